"""Scenario 3: 200 deferred waits; the triggerer is SIGKILLed mid-wait and started again."""

from __future__ import annotations

import time

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest, state_name
from tests.e2e.waits import DAG_ID, WAIT_TASK, calls_on_demand, deferred_waits
from tests.e2e.watch import figure

pytestmark = pytest.mark.e2e

WAITS = 200


def test_every_wait_completes_once_after_the_triggerer_is_lost_and_restarted(
    cluster: Cluster, airflow: AirflowRest
) -> None:
    triggerer = cluster.service("triggerer")
    with calls_on_demand(airflow) as calls:
        run, deferred_s = deferred_waits(airflow, WAITS, timeout=600)
        call_ids = [str(c) for c in airflow.xcom(DAG_ID, run, "start_calls")]
        triggerer.kill()
        killed_at = time.monotonic()
        # Every call ends while no triggerer runs; no wait may complete meanwhile.
        calls.end_all_calls()
        time.sleep(10)
        assert airflow.state_counts(DAG_ID, run, WAIT_TASK) == {"deferred": WAITS}
        triggerer.start()
        down_s = time.monotonic() - killed_at
        assert airflow.wait_for_run(DAG_ID, run, 300) == "success", airflow.state_counts(DAG_ID, run)
        done_after_restart_s = time.monotonic() - killed_at - down_s

    waits = airflow.task_instances(DAG_ID, run, WAIT_TASK)
    assert len(waits) == WAITS
    assert {state_name(ti.state) for ti in waits} == {"success"}
    assert {ti.try_number for ti in waits} == {1}, "a wait failed and was retried"
    endings = airflow.xcom(DAG_ID, run, "count_endings")
    assert endings == {"reported": WAITS, "distinct": WAITS}, endings
    assert {airflow.xcom(DAG_ID, run, WAIT_TASK, ti.map_index)["id"] for ti in waits[:10]} <= set(call_ids)
    figure(
        "3 triggerer lost",
        waits=WAITS,
        all_deferred_after_s=deferred_s,
        triggerer_down_s=down_s,
        all_done_after_restart_s=done_after_restart_s,
        failed=0,
        reported=endings["reported"],
        distinct_calls=endings["distinct"],
    )
