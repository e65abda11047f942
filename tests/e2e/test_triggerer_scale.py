"""Scenario 6: 1,000 deferred waits in the real triggerer: its memory, and how fast the last returns."""

from __future__ import annotations

import os

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest, state_name
from tests.e2e.waits import DAG_ID, WAIT_TASK, calls_on_demand, deferred_waits
from tests.e2e.watch import PeakRss, figure

pytestmark = pytest.mark.e2e

WAITS = int(os.environ.get("VOTEL_E2E_WAITS", 1000))
POKE_INTERVAL_S = 20


def test_one_triggerer_carries_a_thousand_waits(cluster: Cluster, airflow: AirflowRest) -> None:
    with PeakRss(lambda: cluster.pids_under("triggerer")) as rss, calls_on_demand(airflow) as calls:
        run, deferred_s = deferred_waits(airflow, WAITS, timeout=900)
        ended_at = calls.end_all_calls()
        assert airflow.wait_for_run(DAG_ID, run, 900) == "success", airflow.failures(DAG_ID, run)
    waits = airflow.task_instances(DAG_ID, run, WAIT_TASK)
    assert len(waits) == WAITS
    assert {state_name(ti.state) for ti in waits} == {"success"}
    assert airflow.xcom(DAG_ID, run, "count_endings") == {"reported": WAITS, "distinct": WAITS}
    after_end = sorted(ti.end_date.timestamp() - ended_at for ti in waits)
    figure(
        "6 thousand waits",
        waits=WAITS,
        poke_interval_s=POKE_INTERVAL_S,
        all_deferred_after_s=deferred_s,
        triggerer_peak_rss_mb=rss.peak_bytes / 2**20,
        rss_samples=rss.samples,
        last_wait_done_after_calls_ended_s=after_end[-1],
        median_wait_done_after_calls_ended_s=after_end[len(after_end) // 2],
    )
