"""Scenario 4: the scheduler is down for a while in the middle of the outreach campaign."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import figure, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "votel_outreach_campaign"
CONN_ID = "votel_default"
#: Longer than the cluster's task-instance heartbeat timeout (30 s) and scheduler health threshold
#: (15 s): the scheduler that comes back finds tasks that ran on without it, and must not take them
#: for lost.
SCHEDULER_DOWN_S = 45.0


def _campaign_sms(cluster: Cluster, key: str, before: set[str]) -> list[dict[str, Any]]:
    """SMS this run sent: the account's thread messages on the sms channel not there before it."""
    assert cluster.sandbox is not None
    records = cluster.sandbox.admin.records(key, "message")
    return [r for r in records if r["id"] not in before and r["channel"] == "sms"]


def test_the_campaign_completes_across_a_scheduler_restart_texting_each_contact_once(
    cluster: Cluster, airflow: AirflowRest
) -> None:
    assert cluster.sandbox is not None
    key = cluster.api_keys[CONN_ID]
    # Other scenarios text from this account too: count only what this run adds.
    before = {r["id"] for r in cluster.sandbox.admin.records(key, "message")}
    began = time.monotonic()
    run = airflow.trigger(DAG_ID)
    # Mid-campaign: the sandbox has taken an SMS of this run (the unmapped placeholder of send_sms
    # exists from the start, so task states alone cannot say the sends began).
    texted_before_stop = wait_until(
        "the campaign's first SMS", lambda: len(_campaign_sms(cluster, key, before)), 240, 0.2
    )
    scheduler = cluster.service("scheduler")
    scheduler.stop()
    stopped_at = time.monotonic()
    assert airflow.run_state(DAG_ID, run) == "running", "the run ended before the scheduler went down"
    wait_until("the API to report the scheduler down", lambda: airflow.scheduler_health() != "healthy", 60)
    time.sleep(max(0.0, SCHEDULER_DOWN_S - (time.monotonic() - stopped_at)))
    down_s = time.monotonic() - stopped_at
    scheduler.start()

    assert airflow.wait_for_run(DAG_ID, run, 300) == "success", airflow.state_counts(DAG_ID, run)
    counts = airflow.state_counts(DAG_ID, run)
    assert set(counts) <= {"success", "skipped"}, counts
    found = [contact for batch in airflow.xcom(DAG_ID, run, "find_contacts") for contact in batch]
    batches = len(airflow.xcom(DAG_ID, run, "find_contacts"))
    summaries = [airflow.xcom(DAG_ID, run, "send_sms", map_index=i) for i in range(batches)]
    texted = Counter(r["contact_id"] for r in _campaign_sms(cluster, key, before))
    reached = sum(s["sent"] + s["resumed"] for s in summaries)
    not_reached = sum(s["failed"] + s["skipped_invalid"] + s["ambiguous"] for s in summaries)

    assert texted, "no SMS reached anyone"
    assert [contact for contact, n in texted.items() if n > 1] == [], "a contact was texted twice"
    assert set(texted) <= set(found), "an SMS reached a contact the campaign did not select"
    assert sum(texted.values()) == reached, summaries
    assert reached + not_reached == len(found), summaries
    figure(
        "4 scheduler restarted",
        sms_before_stop=texted_before_stop,
        scheduler_down_s=down_s,
        contacts=len(found),
        texted=len(texted),
        run_s=time.monotonic() - began,
        final=counts,
    )
