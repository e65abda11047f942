"""Scenario 6: 1,000 deferred waits in the real triggerer: its memory, and how fast the last returns."""

from __future__ import annotations

import os

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest, state_name
from tests.e2e.waits import DAG_ID, WAIT_TASK, call_end_times, calls_lasting, deferred_waits
from tests.e2e.watch import PeakRss, figure

pytestmark = pytest.mark.e2e

WAITS = int(os.environ.get("VOTEL_E2E_WAITS", "1000"))
#: Long enough for all the waits to defer first (about 5 a second here) before any call ends.
CALL_SECONDS = float(os.environ.get("VOTEL_E2E_WAIT_CALL_SECONDS", "300"))


def test_one_triggerer_carries_a_thousand_waits(cluster: Cluster, airflow: AirflowRest) -> None:
    with (
        PeakRss(lambda: cluster.pids_under("triggerer")) as rss,
        calls_lasting(airflow, CALL_SECONDS) as (sandbox, key),
    ):
        run, deferred_s = deferred_waits(airflow, WAITS, timeout=CALL_SECONDS - 20)
        call_ids = [str(c) for c in airflow.xcom(DAG_ID, run, "start_calls")]
        ends = call_end_times(sandbox, key, call_ids, CALL_SECONDS)
        assert airflow.wait_for_run(DAG_ID, run, CALL_SECONDS + 300) == "success"
    waits = airflow.task_instances(DAG_ID, run, WAIT_TASK)
    assert len(waits) == WAITS
    assert {state_name(ti.state) for ti in waits} == {"success"}
    assert airflow.xcom(DAG_ID, run, "count_endings") == {"reported": WAITS, "distinct": WAITS}
    latency = {call_ids[ti.map_index]: ti.end_date.timestamp() - ends[call_ids[ti.map_index]] for ti in waits}
    last_call = max(ends, key=lambda c: ends[c])
    figure(
        "6 thousand waits",
        waits=WAITS,
        all_deferred_after_s=deferred_s,
        triggerer_peak_rss_mb=rss.peak_bytes / 2**20,
        rss_samples=rss.samples,
        last_wait_after_its_call_ended_s=latency[last_call],
        slowest_wait_after_its_call_ended_s=max(latency.values()),
        median_wait_after_its_call_ended_s=sorted(latency.values())[len(latency) // 2],
    )
