"""Parsing a DAG that uses our operators and sensors must not import the runtime-only heavyweights.

The DAG processor imports every DAG file over and over; what an operator module imports at module
level is paid on each parse. HTTP clients, the web stack, pyarrow, the trigger machinery, the
bulk-send engine and the conditions' dataclasses are only needed when a task runs, so importing any
operator or sensor module must leave them out of ``sys.modules``; nor may an operator module pull in
the sensor machinery or another section's operators. They are checked in a fresh interpreter: in
this one they are all loaded already. No timings are asserted here (see
``benchmarks/parse_cost.py`` for the figures).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import votel_airflow.operators
import votel_airflow.sensors
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.base import DEFAULT_CONN_ID

#: Modules a DAG file must not pull in through our operators and sensors (the hook, with its HTTP
#: layer, the bulk-send engine and the conditions' Fetch and Verdict dataclasses are loaded when a
#: task runs).
RUNTIME_ONLY = (
    "httpx", "fastapi", "uvicorn", "pyarrow", "airflow.triggers.base", "votel_airflow.hooks.votel",
    "votel_airflow.delivery.engine", "votel_airflow.conditions.values", "openlineage",
    "airflow.providers.openlineage", "airflow.providers.common.compat.openlineage",
    # the numbering-plan check of a number runs when a task sends (validation.plan_problem)
    "phonenumbers", "votel_airflow.delivery.screening",
)  # fmt: skip
#: The bases operator modules share; any other operator module is another section's business.
SHARED_OPERATOR_MODULES = frozenset(
    {"votel_airflow.operators", "votel_airflow.operators.base", "votel_airflow.operators.extract",
     "votel_airflow.operators.bulk_send"}
)  # fmt: skip

PARSE_TIME_MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (votel_airflow.operators, votel_airflow.sensors)
    for info in pkgutil.iter_modules(package.__path__)
)

_PROBE = """
import importlib, json, sys
import airflow.sdk
airflow.sdk.DAG, airflow.sdk.BaseOperator
added = {}
for module in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(module)
    added[module] = sorted(set(sys.modules) - before)
print(json.dumps(added))
"""


def _imported_by(*modules: str) -> dict[str, set[str]]:
    """What importing each module (in turn) adds to a fresh interpreter with ``airflow.sdk`` loaded.

    One interpreter serves all modules, to keep the test quick: a module that a previous one
    already loaded is charged to that previous one, and the union is what a DAG using all of them
    would load.
    """
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return {module: set(names) for module, names in json.loads(done.stdout.splitlines()[-1]).items()}


def _loaded(imported: set[str], name: str) -> bool:
    return name in imported or any(m.startswith(name + ".") for m in imported)


@pytest.fixture(scope="module")
def imported() -> dict[str, set[str]]:
    return _imported_by(*PARSE_TIME_MODULES)


def test_every_operator_and_sensor_module_is_probed() -> None:
    # Guards the probe itself: an empty module list would make the checks below pass vacuously.
    assert "votel_airflow.operators.agents" in PARSE_TIME_MODULES
    assert "votel_airflow.sensors.calls" in PARSE_TIME_MODULES


def test_probe_sees_what_a_module_imports() -> None:
    # The probe must report a heavy import when one happens, or the checks below prove nothing.
    probed = _imported_by("votel_airflow.triggers.condition")["votel_airflow.triggers.condition"]
    assert _loaded(probed, "airflow.triggers.base")


@pytest.mark.parametrize("heavy", RUNTIME_ONLY)
def test_importing_operators_and_sensors_leaves_runtime_only_modules_unloaded(
    imported: dict[str, set[str]], heavy: str
) -> None:
    offenders = [module for module, names in imported.items() if _loaded(names, heavy)]
    assert offenders == [], f"{heavy} is imported at DAG parse time by {offenders}"


def test_importing_operators_and_sensors_leaves_requests_unloaded(imported: dict[str, set[str]]) -> None:
    offenders = [module for module, names in imported.items() if _loaded(names, "requests")]
    assert offenders == [], f"requests is imported at DAG parse time by {offenders}"


def test_operator_modules_leave_the_sensor_machinery_unloaded(imported: dict[str, set[str]]) -> None:
    # Operator modules are probed before any sensor module (sorted names), so a sensor module or
    # BaseSensorOperator loaded by one is charged to that operator module.
    offenders = {
        module: sorted(
            n for n in names if _loaded({n}, "votel_airflow.sensors") or n == "airflow.sdk.bases.sensor"
        )
        for module, names in imported.items()
        if module.startswith("votel_airflow.operators.")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_operator_modules_import_no_other_section(imported: dict[str, set[str]]) -> None:
    offenders = {
        module: sorted(
            n
            for n in names
            if n.startswith("votel_airflow.operators") and n not in SHARED_OPERATOR_MODULES and n != module
        )
        for module, names in imported.items()
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_conditions_serve_fetch_and_verdict_from_their_own_module() -> None:
    from votel_airflow import condition_values, conditions
    from votel_airflow.conditions import values

    assert conditions.Fetch is values.Fetch
    assert conditions.Verdict is values.Verdict
    # The module's old name stays importable for one release.
    assert (condition_values.Fetch, condition_values.Verdict) == (values.Fetch, values.Verdict)
    with pytest.raises(AttributeError, match="NoSuchThing"):
        conditions.NoSuchThing  # noqa: B018


def test_re_exported_operators_resolve_to_their_defining_class() -> None:
    from votel_airflow.operators import agent_knowledge, agents, contact_exports, contact_imports, contacts

    assert agents.SyncKnowledgeBaseOperator is agent_knowledge.SyncKnowledgeBaseOperator
    assert contacts.ContactExportOperator is contact_exports.ContactExportOperator
    assert contacts.UpsertContactsOperator is contact_imports.UpsertContactsOperator
    with pytest.raises(AttributeError, match="NoSuchOperator"):
        contacts.NoSuchOperator  # noqa: B018


def test_default_connection_id_matches_the_hook() -> None:
    # The operators spell the default out so parsing does not import the hook; they must agree.
    assert VotelHook.default_conn_name == DEFAULT_CONN_ID
