"""Provider registration: Airflow's own commands see the package and the ``votel`` connection type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from votel_airflow import __version__
from votel_airflow.get_provider_info import get_provider_info
from votel_airflow.hooks.votel import FULL_CHECK_HINT, VotelHook

from .conftest import KEY

COMMANDS = {
    "list": ["providers", "list", "-o", "json"],
    "hooks": ["providers", "hooks", "-o", "json"],
    "notifications": ["providers", "notifications", "-o", "json"],
    "test": ["connections", "test", "votel_default"],
}
# One interpreter runs the `airflow` console script's own entry point once per command: the same
# code path as typing the commands, without paying Airflow's start-up three times.
RUNNER = """
import contextlib, io, json, sys
from airflow.__main__ import main
results = {}
for name, args in json.loads(sys.argv[1]).items():
    sys.argv = ["airflow", *args]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    results[name] = {"code": code, "out": out.getvalue()}
print("@@RESULTS@@" + json.dumps(results))
"""


def _schema(name: str) -> dict[str, Any]:
    import airflow

    return dict(json.loads((Path(airflow.__file__).parent / name).read_text()))


@pytest.fixture(scope="module")
def airflow_cli(local_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the commands in a subprocess with a fresh AIRFLOW_HOME; ``{name: {code, out}}``."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow_home")),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps({"conn_type": "votel", "host": local_api, "password": KEY}),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(COMMANDS)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "@@RESULTS@@" in done.stdout, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(done.stdout.split("@@RESULTS@@", 1)[1])
    results["stderr"] = done.stderr
    return results


def _json_rows(output: str) -> list[dict[str, Any]]:
    # Log lines may precede the JSON document; it is the line that starts with "[{".
    line = next(line for line in output.splitlines() if line.startswith("[{"))
    return list(json.loads(line))


def test_providers_list_shows_the_package(airflow_cli: dict[str, Any]) -> None:
    result = airflow_cli["list"]
    assert result["code"] == 0, airflow_cli["stderr"]
    rows = {row["package_name"]: row for row in _json_rows(result["out"])}
    assert rows["airflow-provider-votel"]["version"] == __version__


def test_providers_hooks_shows_the_votel_connection_type(airflow_cli: dict[str, Any]) -> None:
    result = airflow_cli["hooks"]
    assert result["code"] == 0, airflow_cli["stderr"]
    rows = {row["connection_type"]: row for row in _json_rows(result["out"])}
    assert rows["votel"] == {
        "connection_type": "votel",
        "class": "votel_airflow.hooks.votel.VotelHook",
        "conn_id_attribute_name": "votel_conn_id",
        "package_name": "airflow-provider-votel",
        "hook_name": "Votel",
    }


def test_airflow_connections_test_succeeds_against_a_real_server(airflow_cli: dict[str, Any]) -> None:
    result = airflow_cli["test"]
    assert result["code"] == 0, airflow_cli["stderr"]
    assert "Connection success!" in result["out"]
    assert KEY not in result["out"] + airflow_cli["stderr"]


def test_provider_info_is_valid_for_airflows_runtime_schema() -> None:
    import jsonschema

    # One malformed provider info breaks every `airflow providers` command, not only ours.
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_provider_info_is_valid_for_the_provider_yaml_schema() -> None:
    import jsonschema

    schema = _schema("provider.yaml.schema.json")
    # "state" and "source-date-epoch" are bookkeeping of providers released from the Airflow repo.
    schema["required"] = [name for name in schema["required"] if name not in ("state", "source-date-epoch")]
    jsonschema.validate(get_provider_info(), schema)


def test_connection_form_relabels_hides_and_adds_fields() -> None:
    (conn_type,) = get_provider_info()["connection-types"]
    behaviour = conn_type["ui-field-behaviour"]

    assert conn_type["connection-type"] == VotelHook.conn_type == "votel"
    assert conn_type["hook-name"] == VotelHook.hook_name == "Votel"
    assert behaviour["relabeling"] == {"password": "API Key", "host": "Base URL"}
    assert behaviour["placeholders"]["host"] == "https://app.votel.ai/api"
    assert {"login", "schema", "port"} <= set(behaviour["hidden-fields"])
    assert set(conn_type["conn-fields"]) == {
        "timeout",
        "max_retries",
        "retry_after_max",
        "server_idempotency",
        "adaptive_pacing",
        "proxy",
        "ca_bundle",
        "extra_headers",
    }
    # The form starts at the contract's default, so saving it untouched cannot turn the guard off.
    assert conn_type["conn-fields"]["server_idempotency"]["schema"] == {
        "type": ["boolean", "null"],
        "default": True,
    }


def test_every_class_and_module_named_in_provider_info_imports() -> None:
    import importlib

    info = get_provider_info()
    dotted = [info["connection-types"][0]["hook-class-name"], *info["extra-links"], *info["notifications"]]
    for name in dotted:
        module, _, attr = name.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), name
    for kind in ("operators", "sensors", "hooks", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_provider_info_lists_every_module_holding_an_operator_or_a_sensor_and_no_other() -> None:
    from tests.test_completeness import operator_classes

    info = get_provider_info()
    listed = {m for kind in ("operators", "sensors") for entry in info[kind] for m in entry["python-modules"]}
    assert listed == {cls.__module__ for cls in operator_classes()}


def test_every_integration_name_in_provider_info_names_its_integration() -> None:
    info = get_provider_info()
    integrations = {i["integration-name"] for i in info["integrations"]}
    used = {
        entry["integration-name"]
        for kind in ("operators", "sensors", "hooks", "triggers")
        for entry in info[kind]
    }
    assert used == integrations == {"Votel"}


def test_providers_notifications_lists_both_notifiers(airflow_cli: dict[str, Any]) -> None:
    result = airflow_cli["notifications"]
    assert result["code"] == 0, airflow_cli["stderr"]
    names = {row["notification_class_name"] for row in _json_rows(result["out"])}
    assert {
        "votel_airflow.notifications.VotelSmsNotifier",
        "votel_airflow.notifications.VotelCallNotifier",
    } <= names


def test_connection_from_environment_json_tests_like_airflow_does(
    local_api: str, set_connection: Any
) -> None:
    set_connection(host=local_api)

    assert VotelHook().test_connection() == (True, f"Connected: 2 agents. {FULL_CHECK_HINT}")


def test_connection_test_reports_a_rejected_key(local_api: str, set_connection: Any) -> None:
    set_connection(host=local_api, password="sk_revoked_key_0000")

    assert VotelHook().test_connection() == (False, "Invalid API key")
