"""WalletBalanceSensor against the sandbox: poke, bad input, and a deferred wait inside dag.test()."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelInputError
from votel_airflow.sensors.payments import WalletBalanceCondition, WalletBalanceSensor
from votel_airflow.triggers.condition import VotelConditionTrigger


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[VotelConditionTrigger]:
    """Records every VotelConditionTrigger that runs, proving the task really deferred."""
    runs: list[VotelConditionTrigger] = []
    original = VotelConditionTrigger.run

    async def spy(self: VotelConditionTrigger):  # type: ignore[no-untyped-def]
        runs.append(self)
        async for event in original(self):
            yield event

    monkeypatch.setattr(VotelConditionTrigger, "run", spy)
    return runs


def test_wallet_condition_round_trips_through_json():
    condition = WalletBalanceCondition(min_balance="12.50")
    class_path, kwargs = condition.serialize()

    rebuilt = Condition.deserialize(class_path, json.loads(json.dumps(kwargs)))

    assert rebuilt.evaluate([{"balance": 12.5, "currency": "USD"}]).done
    assert not rebuilt.evaluate([{"balance": 12.49, "currency": "USD"}]).done


def test_wallet_sensor_poke_is_done_once_the_balance_reaches_the_threshold(
    votel_sandbox, votel_api_key, votel_connection
):
    sensor = WalletBalanceSensor(task_id="wallet", min_balance=20, deferrable=False)
    votel_sandbox.admin.set_wallet(votel_api_key, 19.99)
    assert sensor.poke(make_context()).is_done is False

    votel_sandbox.admin.set_wallet(votel_api_key, 20)
    result = sensor.poke(make_context())

    assert result.is_done is True
    assert result.xcom_value == {"balance": 20.0, "currency": "USD"}


def test_wallet_sensor_rejects_a_non_numeric_threshold_before_any_request(
    votel_sandbox, votel_api_key, votel_connection
):
    sensor = WalletBalanceSensor(task_id="wallet", min_balance="{{ params.floor }}", deferrable=True)
    sensor.min_balance = "ten dollars"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"min_balance='ten dollars': is not a number"):
        sensor.execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_wallet_sensor_rejects_a_negative_static_threshold_at_parse_time():
    with pytest.raises(VotelInputError, match="min_balance=-5"):
        WalletBalanceSensor(task_id="wallet", min_balance=-5)


def test_wallet_sensor_defers_in_a_dag_run_until_the_wallet_is_topped_up(
    tmp_path: Path,
    dags: Path,
    monkeypatch: pytest.MonkeyPatch,
    airflow_db,
    votel_sandbox,
    votel_api_key,
    votel_connection,
    trigger_runs,
):
    votel_sandbox.admin.set_wallet(votel_api_key, 1)
    original_run = VotelConditionTrigger.run

    async def top_up_once_deferred(self: VotelConditionTrigger):  # type: ignore[no-untyped-def]
        # Top up only once the wait is in the triggerer, so the sensor's first look saw a low wallet.
        threading.Timer(0.5, votel_sandbox.admin.set_wallet, (votel_api_key, 750)).start()
        async for event in original_run(self):
            yield event

    monkeypatch.setattr(VotelConditionTrigger, "run", top_up_once_deferred)
    out = tmp_path / "result.json"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.sensors.payments import WalletBalanceSensor

        with DAG("wallet_sensor_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"floor": 500}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            wait = WalletBalanceSensor(
                task_id="wait", min_balance="{{{{ params.floor }}}}", deferrable=True,
                poke_interval=0.2, timeout=30,
            )

            @task
            def keep(result):
                open({str(out)!r}, "w").write(__import__("json").dumps(result))

            keep(wait.output)
        """,
    )

    dagrun = run_dag(dags, "wallet_sensor_dag")

    assert dagrun_task_states(dagrun) == {"wait": "success", "keep": "success"}
    assert json.loads(out.read_text()) == {"balance": 750.0, "currency": "USD"}
    assert [run.condition_kwargs for run in trigger_runs] == [{"min_balance": "500"}]
