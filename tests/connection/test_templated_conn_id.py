"""``votel_conn_id`` is templated: one DAG file runs against the connection a run names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import dagrun_task_states, run_dag, write_dag
from votel_airflow.sandbox.server import SandboxServer

DAG = """
from datetime import datetime

from airflow.sdk import DAG, task

from votel_airflow.operators.settings import VotelListOperator
from votel_airflow.sensors.payments import WalletBalanceSensor

with DAG("conn_dag", schedule=None, start_date=datetime(2026, 1, 1), params={"conn": "votel_default"}):
    agents = VotelListOperator(task_id="agents", resource="agents", votel_conn_id="{{ params.conn }}")
    WalletBalanceSensor(task_id="wallet", min_balance=1, votel_conn_id="{{ params.conn }}", poke_interval=0.1,
                        timeout=30)

    @task
    def count(agents):
        return len(agents)

    count(agents.output)
"""


def test_a_run_uses_the_connection_its_params_name(
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    airflow_db: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # votel_default points nowhere usable: only the templated connection can succeed.
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps({"conn_type": "votel", "password": "nope"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_STAGING",
        json.dumps({"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key}),
    )
    write_dag(dags, DAG)

    dagrun = run_dag(dags, "conn_dag", run_conf={"conn": "votel_staging"})

    assert dagrun_task_states(dagrun) == {"agents": "success", "wallet": "success", "count": "success"}
