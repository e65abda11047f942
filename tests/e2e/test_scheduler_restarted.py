"""Scenario 4: the scheduler is restarted in the middle of the outreach campaign."""

from __future__ import annotations

import time

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import figure, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "votel_outreach_campaign"


def test_the_campaign_completes_across_a_scheduler_restart(cluster: Cluster, airflow: AirflowRest) -> None:
    began = time.monotonic()
    run = airflow.trigger(DAG_ID)
    # Mid-campaign: the wallet check passed and the sends have started.
    done_before = wait_until(
        "the campaign's sends to start",
        lambda: (
            (c := airflow.state_counts(DAG_ID, run)).get("success", 0) >= 3
            and airflow.state_counts(DAG_ID, run, "send_sms")
            and c
        ),
        240,
    )
    scheduler = cluster.service("scheduler")
    scheduler.stop()
    stopped_at = time.monotonic()
    scheduler.start()
    down_s = time.monotonic() - stopped_at
    assert airflow.wait_for_run(DAG_ID, run, 300) == "success", airflow.state_counts(DAG_ID, run)
    counts = airflow.state_counts(DAG_ID, run)
    assert set(counts) <= {"success", "skipped"}, counts
    figure(
        "4 scheduler restarted",
        tasks_done_before_restart=done_before.get("success", 0),
        scheduler_down_s=down_s,
        run_s=time.monotonic() - began,
        final=counts,
    )
