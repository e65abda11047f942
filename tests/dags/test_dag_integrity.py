"""Every example DAG imports cleanly, documents itself, and is cheap and offline to parse."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import EXAMPLES
from votel_airflow.compat import has_human_in_the_loop

EXPECTED_DAGS = {
    "votel_nightly_crm_sync",
    "votel_outreach_campaign",
    "votel_call_followup",
    "votel_agent_release",
    "votel_click_report",
    "votel_emergency_stop",
    "votel_taskflow_outreach",
    "votel_reply_followup",
    # Airflow 3.1+ only (human-in-the-loop): its file defines no DAG on 3.0.
    *(["votel_outreach_with_approval"] if has_human_in_the_loop() else []),
}
DAG_FILES = sorted(EXAMPLES.glob("*.py"))
#: What importing Airflow and the provider costs is paid once by the DAG processor; the budget is
#: for executing the DAG file itself, counted in the CPU time of its process (about 0.1 s today).
#: Not the wall clock: on a loaded 2-core machine a file of 0.07 s of CPU took 0.99 s by the clock.
PARSE_CPU_BUDGET_SECONDS = 0.5
#: A file that waits (a sleep, a lookup) instead of computing costs no CPU: the clock bounds that.
PARSE_WALL_LIMIT_SECONDS = 5.0
PARSE_PROBE = """
import importlib.util, json, sys, time
import airflow.sdk  # the DAG processor has this loaded before it parses any file
start, cpu = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("probe_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""


def _bag() -> Any:
    from votel_airflow.compat import DagBag

    return DagBag(dag_folder=str(EXAMPLES))


def test_every_example_dag_imports_without_errors() -> None:
    bag = _bag()
    assert not bag.import_errors
    assert set(bag.dag_ids) == EXPECTED_DAGS


def test_every_example_dag_has_tags_and_doc_md() -> None:
    bag = _bag()
    for dag_id in EXPECTED_DAGS:
        dag = bag.dags[dag_id]  # not get_dag(): that may consult the metadata DB
        assert dag.tags, dag_id
        assert "votel" in dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert len(dag.doc_md) > 200, dag_id


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_every_example_file_has_a_module_docstring_and_snippet_markers(path: Path) -> None:
    source = path.read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring
    assert len(docstring.splitlines()[0]) > 20
    starts = source.count("# --8<-- [start:")
    assert starts >= 1
    assert starts == source.count("# --8<-- [end:")


def test_parsing_the_examples_opens_no_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"network access while parsing a DAG: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    bag = _bag()
    assert not bag.import_errors
    assert set(bag.dag_ids) == EXPECTED_DAGS
    assert attempts == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_each_example_file_is_cheap_to_parse(path: Path) -> None:
    # A fresh interpreter per file, so no other file's imports make this one look cheap.
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    took = json.loads(result.stdout.strip().splitlines()[-1])
    assert took["cpu"] < PARSE_CPU_BUDGET_SECONDS, f"{path.name} took {took['cpu']:.2f}s of CPU to parse"
    assert took["wall"] < PARSE_WALL_LIMIT_SECONDS, f"{path.name} took {took['wall']:.2f}s to parse"
