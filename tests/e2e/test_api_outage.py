"""Scenario 5: the Votel API is unreachable for a minute in the middle of an extract to S3."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import BucketWatcher, figure, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_extract_outage"
TASK_ID = "extract_call_logs"
SINCE = datetime(2026, 3, 1, tzinfo=timezone.utc)
UNTIL = datetime(2026, 3, 2, tzinfo=timezone.utc)
CALLS = 20_000
OUTAGE_S = 60.0


def _pages_served(cluster: Cluster) -> int:
    assert cluster.sandbox is not None
    paths = cluster.sandbox.admin.stats()["paths"]
    return sum(n for path, n in paths.items() if "call-logs" in path)


def test_an_extract_retried_across_an_api_outage_writes_the_exact_file(
    cluster: Cluster, airflow: AirflowRest
) -> None:
    assert cluster.sandbox is not None
    key = cluster.api_keys["votel_extract"]
    cluster.sandbox.admin.generate_call_logs(key, CALLS, SINCE, UNTIL)
    expected_ids = _all_call_ids(cluster, key)
    assert len(expected_ids) == CALLS
    # Slow pages, so the extract is still running when the API goes away.
    cluster.sandbox.admin.set_faults(slow_rate=1.0, slow_seconds=0.5)
    cluster.sandbox.admin.reset_stats()
    run = airflow.trigger(DAG_ID, conf={"since": SINCE.isoformat(), "until": UNTIL.isoformat()})
    with BucketWatcher(lambda: cluster.s3_keys("outage/")) as watcher:
        wait_until("the extract's third page", lambda: _pages_served(cluster) >= 3, 240, 0.5)
        port = cluster.sandbox.port
        cluster.stop_sandbox()
        time.sleep(OUTAGE_S)
        cluster.start_sandbox(port)  # same port, same state; no slow pages any more
        assert airflow.wait_for_run(DAG_ID, run, 300) == "success", airflow.state_counts(DAG_ID, run)
        watcher.wait_for_a_listing()  # one that saw the published file
    ti = airflow.task_instance(DAG_ID, run, TASK_ID)
    manifest = airflow.xcom(DAG_ID, run, TASK_ID)
    key_name = manifest["uri"].split("votel-e2e/", 1)[1]
    lines = cluster.s3_read(key_name).splitlines()
    ids = [json.loads(line)["id"] for line in lines]

    assert ti.try_number >= 2, "the extract did not retry: the outage missed it"
    assert manifest["records"] == CALLS
    assert len(ids) == CALLS, "a row is missing or duplicated"
    assert len(set(ids)) == CALLS, "a row is duplicated"
    assert ids == expected_ids, "the file's rows differ from the API's, or their order does"
    final = cluster.s3_keys("outage/")
    assert list(final) == [key_name]
    # Listed at least once a second through the outage, and saw the file once it was there: the
    # two checks below looked at the bucket while the retried extract wrote it.
    watcher.assert_watched(final, min_listings=int(OUTAGE_S))
    assert watcher.temporary_keys() == [], "a temporary object was visible"
    assert watcher.keys_seen_at_other_sizes(final) == {}, "a partial object was visible"
    figure(
        "5 API outage",
        outage_s=OUTAGE_S,
        tries=ti.try_number,
        rows=len(ids),
        distinct=len(set(ids)),
        bucket_listings=watcher.listings,
        temporary_seen=len(watcher.temporary_keys()),
    )


def _all_call_ids(cluster: Cluster, key: str) -> list[str]:
    """The window's call ids in the API's order, read page by page without Airflow."""
    import requests

    assert cluster.sandbox is not None
    ids: list[str] = []
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "limit": 500}
    while True:
        page = requests.get(
            f"{cluster.sandbox.base_url}/activity/call-logs",
            params={**params, "offset": len(ids)},
            headers={"X-API-Key": key},
            timeout=60,
        ).json()
        ids += [record["id"] for record in page]
        if len(page) < 500:
            return ids
