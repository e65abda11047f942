"""The pytest plugin's fixtures, as a user's DAG test would use them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests


def test_votel_connection_points_the_default_connection_at_the_sandbox(
    votel_sandbox, votel_api_key, votel_connection
):
    assert votel_connection == "votel_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    assert conn == {"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key}
    response = requests.get(f"{conn['host']}/agents", headers={"X-API-Key": conn["password"]}, timeout=10)
    assert response.status_code == 200


def test_votel_api_key_is_a_fresh_tenant_each_time(votel_sandbox, votel_api_key):
    assert votel_api_key not in votel_sandbox.api_keys
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


def test_hook_reads_the_connection(votel_connection):
    from votel_airflow.hooks.votel import VotelHook

    agents = VotelHook(votel_connection).request("GET", "/agents")
    assert agents[0]["name"] == "Sales Assistant"


def test_plugin_is_registered_as_a_pytest11_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "votel_airflow.testing" in names


#: What a pytest run that uses none of the fixtures must not pay for.
HEAVY = ("airflow", "fastapi", "starlette", "uvicorn", "pydantic", "requests", "votel_airflow.sandbox")


def test_loading_the_plugin_imports_nothing_heavy():
    probe = (
        "import sys, votel_airflow.testing\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_votel_sandboxes_starts_one_sandbox_per_set_of_options(votel_sandboxes, votel_sandbox):
    slow = votel_sandboxes(call_stage_seconds=30)
    assert slow is votel_sandboxes(call_stage_seconds=30)
    assert votel_sandboxes() is votel_sandbox
    assert slow.base_url != votel_sandbox.base_url
    assert slow.admin.config()["call_stage_seconds"] == 30


def test_the_cli_names_the_extra_when_the_server_dependencies_are_missing():
    # A None entry in sys.modules makes an import fail as if the package were not installed.
    probe = (
        "import sys\n"
        "sys.modules['fastapi'] = None\n"
        "from votel_airflow.sandbox.cli import main\n"
        "sys.exit(main(['--port', '0']))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "fastapi" in done.stderr
    assert "pip install 'airflow-provider-votel[sandbox]'" in done.stderr
    assert "VOTEL_SANDBOX_READY" not in done.stdout
