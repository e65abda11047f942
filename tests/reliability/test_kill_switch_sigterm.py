"""Marking a running call task failed cancels its call: the SIGTERM path of Airflow's task runner.

When a running task instance is marked failed (UI or REST API), the API server tells the task's
supervisor at its next heartbeat and the supervisor sends the task process SIGTERM; the task
runner's handler calls the operator's ``on_kill``. Here a real ``dag.test()`` process runs the
task through that same runner, and the test sends the SIGTERM the supervisor would send.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import write_dag
from votel_airflow import endpoints
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow
T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
LOGICAL_DATE = "2026-11-01T00:00:00+00:00"
DAG_ID = "sigterm_call_dag"
#: The sandbox's name for a look at one call, in its request counts.
CALL_GET = "GET /activity/calls/{call_id}"
DAG = """
from datetime import datetime

from airflow.sdk import DAG

from votel_airflow.operators.agents import StartCallOperator

with DAG("sigterm_call_dag", schedule=None, start_date=datetime(2026, 1, 1)):
    StartCallOperator(task_id="call", agent_id="__AGENT__", to="+14155550101",
                      wait_for_completion=True, poke_interval=0.5)
"""


def _until(predicate: Callable[[], T], proc: subprocess.Popen[bytes], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if proc.poll() is not None:
            raise AssertionError(f"the task process ended (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.1)
    return value


def test_sigterm_to_the_running_task_cancels_the_call_it_started(
    slow_votel_sandbox: SandboxServer, airflow_db: Path, dags: Path, tmp_path: Path
) -> None:
    key = slow_votel_sandbox.admin.create_account()
    conn = json.dumps({"conn_type": "votel", "host": slow_votel_sandbox.base_url, "password": key})
    env = {**os.environ, "AIRFLOW_CONN_VOTEL_DEFAULT": conn, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    write_dag(dags, DAG.replace("__AGENT__", _first_agent(slow_votel_sandbox.base_url, key)))

    def looks_at_calls() -> int:
        return int(slow_votel_sandbox.admin.stats()["paths"].get(CALL_GET, 0))

    looks_before = looks_at_calls()
    with (tmp_path / "task.log").open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.dag_process", str(dags), DAG_ID, LOGICAL_DATE],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        calls = _until(
            lambda: slow_votel_sandbox.admin.records(key, "call"), proc, 120, "the task started its call"
        )
        # The sandbox holds the call before the task has read the answer that names it: a SIGTERM
        # in between (a loaded machine's scheduling) finds no call to stop. The task's first look
        # at its call shows it knows the id.
        _until(lambda: looks_at_calls() > looks_before, proc, 30, "the task looked at its call")
        proc.send_signal(signal.SIGTERM)
        canceled = _until(
            lambda: slow_votel_sandbox.admin.records(key, "call_cancel"), proc, 30, "the call was canceled"
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert [c["id"] for c in canceled] == [calls[0]["id"]]
    log = (tmp_path / "task.log").read_text()
    assert "Kill switch: stopped call" in log, log[-3000:]


def _first_agent(base_url: str, key: str) -> str:
    import requests

    agents = requests.get(f"{base_url}{endpoints.AGENTS}", headers={"X-API-Key": key}, timeout=30).json()
    return str(agents[0]["id"])
