"""Scenario 1: the five example DAGs on Celery, extracts on S3, the CRM sync into PostgreSQL."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.e2e.cluster import BUCKET, S3_CONN_ID, Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import BucketWatcher, figure

pytestmark = pytest.mark.e2e

DAY = datetime(2026, 6, 1, tzinfo=timezone.utc)
NEXT_DAY = datetime(2026, 6, 2, tzinfo=timezone.utc)
CALLS_THAT_DAY = 3000
S3_ROOT = f"s3://{S3_CONN_ID}@{BUCKET}/examples"
RUN_TIMEOUT = 480.0


def _table(cluster: Cluster) -> list[tuple[object, ...]]:
    return cluster.warehouse_rows("SELECT * FROM votel_call_logs ORDER BY id")


def test_the_five_example_dags_succeed_with_extracts_on_s3_and_a_repeatable_warehouse_load(
    cluster: Cluster, airflow: AirflowRest
) -> None:
    assert cluster.sandbox is not None
    cluster.sandbox.admin.generate_call_logs(cluster.api_keys["votel_default"], CALLS_THAT_DAY, DAY, NEXT_DAY)
    began = time.monotonic()
    with BucketWatcher(lambda: cluster.s3_keys("examples/")) as watcher:
        runs = {
            "votel_nightly_crm_sync": airflow.trigger_interval(
                "votel_nightly_crm_sync", DAY, NEXT_DAY, conf={"data_dir": f"{S3_ROOT}/crm"}
            ),
            "votel_click_report": airflow.trigger_interval(
                "votel_click_report", DAY, NEXT_DAY, conf={"data_dir": f"{S3_ROOT}/clicks"}
            ),
            "votel_outreach_campaign": airflow.trigger("votel_outreach_campaign"),
            "votel_agent_release": airflow.trigger("votel_agent_release"),
        }
        states = {
            "votel_nightly_crm_sync": airflow.wait_for_run(
                "votel_nightly_crm_sync", runs["votel_nightly_crm_sync"], RUN_TIMEOUT
            )
        }
        # The follow-up creates contacts the sync's leads also name: one tenant, so one after the other.
        runs["votel_call_followup"] = airflow.trigger(
            "votel_call_followup", conf={"data_dir": f"{S3_ROOT}/followup"}
        )
        states.update({dag: airflow.wait_for_run(dag, run, RUN_TIMEOUT) for dag, run in runs.items()})
        first_run_s = time.monotonic() - began
        assert states == dict.fromkeys(runs, "success"), {
            dag: airflow.state_counts(dag, run) for dag, run in runs.items()
        }

        crm = runs["votel_nightly_crm_sync"]
        loaded = airflow.xcom("votel_nightly_crm_sync", crm, "load_call_logs")
        manifest = airflow.xcom("votel_nightly_crm_sync", crm, "extract_call_logs")
        first_load = _table(cluster)
        assert loaded["rows"] == CALLS_THAT_DAY == manifest["records"] == len(first_load)
        assert manifest["uri"].startswith(f"{S3_ROOT}/crm/call_logs/2026-06-01")

        # The same interval again: the table must come out identical, row for row.
        airflow.clear("votel_nightly_crm_sync", crm)
        assert airflow.wait_for_run("votel_nightly_crm_sync", crm, RUN_TIMEOUT) == "success"
        assert _table(cluster) == first_load
        watcher.wait_for_a_listing()  # one that saw every file as it was left

    final = cluster.s3_keys("examples/")
    extract_key = "examples/crm/call_logs/2026-06-01.jsonl"
    assert extract_key in final, sorted(final)
    assert len(cluster.s3_read(extract_key).splitlines()) == CALLS_THAT_DAY
    watcher.assert_watched(final, min_listings=50)
    assert watcher.temporary_keys() == [], "a temporary object was visible"
    assert watcher.keys_seen_at_other_sizes(final) == {}, "a partial object was visible"
    assert [k for k in final if "/." in f"/{k}" or k.endswith(".tmp")] == []
    figure(
        "1 examples on Celery",
        dags=len(runs),
        first_runs_s=first_run_s,
        warehouse_rows=len(first_load),
        s3_objects=len(final),
        bucket_listings=watcher.listings,
        temporary_seen=len(watcher.temporary_keys()),
    )
