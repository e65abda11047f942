"""Scenario 6: 1,000 waits that start and end in the real triggerer: how fast, and its memory.

The scheduler defers each mapped wait with no worker (``start_from_trigger``), the triggerer starts
them, and each ends there (``end_from_trigger``), pushing its call for ``count_endings``.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest, state_name
from tests.e2e.waits import DAG_ID, WAIT_TASK, calls_on_demand, deferred_waits, waits_polling
from tests.e2e.watch import PeakRss, figure, wait_until

pytestmark = pytest.mark.e2e

WAITS = int(os.environ.get("VOTEL_E2E_WAITS", 1000))
POKE_INTERVAL_S = 20


def test_one_triggerer_carries_a_thousand_waits(cluster: Cluster, airflow: AirflowRest) -> None:
    with PeakRss(lambda: cluster.pids_under("triggerer")) as rss, calls_on_demand(airflow) as calls:
        began = time.monotonic()
        run, deferred_s = deferred_waits(airflow, WAITS, timeout=900)
        # The calls of a campaign ring for minutes: they end once every wait is polling.
        home = cluster.root / "airflow"
        wait_until(f"{WAITS} waits polling", lambda: waits_polling(home, run) == WAITS, 600, 2.0)
        polling_s = time.monotonic() - began
        ended_at = calls.end_all_calls()
        assert airflow.wait_for_run(DAG_ID, run, 900) == "success", airflow.failures(DAG_ID, run)
    waits = airflow.task_instances(DAG_ID, run, WAIT_TASK)
    assert len(waits) == WAITS
    assert {state_name(ti.state) for ti in waits} == {"success"}
    assert airflow.xcom(DAG_ID, run, "count_endings") == {"reported": WAITS, "distinct": WAITS}
    # No worker ran a wait: the workers executed the run's two other tasks and nothing else.
    worked = [
        line
        for name in cluster.services
        if name.startswith("worker")
        for line in cluster.log_of(name).read_text(errors="replace").splitlines()
        if "Executing workload in Celery" in line and run in line
    ]
    assert sorted(re.findall(r"task_id='(\w+)'", "\n".join(worked))) == ["count_endings", "start_calls"]
    after_end = sorted(ti.end_date.timestamp() - ended_at for ti in waits)
    figure(
        "6 thousand waits",
        waits=WAITS,
        poke_interval_s=POKE_INTERVAL_S,
        all_deferred_after_s=deferred_s,
        all_polling_after_s=polling_s,
        triggerer_peak_rss_mb=rss.peak_bytes / 2**20,
        rss_samples=rss.samples,
        first_wait_done_after_calls_ended_s=after_end[0],
        last_wait_done_after_calls_ended_s=after_end[-1],
        median_wait_done_after_calls_ended_s=after_end[len(after_end) // 2],
    )
