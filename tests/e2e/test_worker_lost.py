"""Scenario 2: the Celery worker running a 3,000-recipient SMS send is lost a third of the way in."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import figure, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_bulk_sms"
TASK_ID = "send_sms"
RECIPIENTS = 3000
KILL_AFTER = RECIPIENTS // 3


def _worker_running(cluster: Cluster, pid: int) -> str | None:
    for name in cluster.services:
        if (
            name.startswith("worker-")
            and cluster.services[name].running()
            and pid in cluster.pids_under(name)
        ):
            return name
    return None


def test_a_send_retried_on_the_surviving_worker_texts_every_recipient_exactly_once(
    cluster: Cluster, airflow: AirflowRest
) -> None:
    assert cluster.sandbox is not None
    admin, key = cluster.sandbox.admin, cluster.api_keys["votel_send"]
    run = airflow.trigger(DAG_ID)
    sent_at_kill = wait_until(
        f"{KILL_AFTER} SMS sent", lambda: (n := len(admin.records(key, "sms"))) >= KILL_AFTER and n, 240, 0.2
    )
    ti = airflow.task_instance(DAG_ID, run, TASK_ID)
    lost = _worker_running(cluster, int(ti.pid))
    assert lost is not None, f"no worker runs the task's process {ti.pid}"
    cluster.service(lost).kill()
    killed_at = time.monotonic()
    try:
        assert airflow.wait_for_run(DAG_ID, run, 300) == "success"
        recovered_s = time.monotonic() - killed_at
        ti = airflow.task_instance(DAG_ID, run, TASK_ID)
        summary = airflow.xcom(DAG_ID, run, TASK_ID)
        texted = Counter(r["recipient"] for r in admin.records(key, "sms"))
        retry_log = airflow.log(DAG_ID, run, TASK_ID, int(ti.try_number))
    finally:
        cluster.service(lost).start()

    assert ti.try_number >= 2, "the task finished without a retry: the worker was not lost mid-send"
    assert 0 < summary["resumed"] < RECIPIENTS, summary
    assert summary["resumed"] + summary["sent"] == RECIPIENTS, summary
    assert len(texted) == RECIPIENTS
    assert set(texted.values()) == {1}, f"texted twice: {[r for r, n in texted.items() if n > 1][:10]}"
    assert retry_log.strip(), "no log for the retry"
    figure(
        "2 worker lost mid-send",
        sent_before_kill=sent_at_kill,
        lost=lost,
        tries=ti.try_number,
        resumed=summary["resumed"],
        sent_by_retry=summary["sent"],
        recipients=len(texted),
        max_texts_per_recipient=max(texted.values()),
        recovered_s=recovered_s,
    )
