"""Scenario 5: a long call-log extract to S3 while the API goes away for a minute."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from votel_airflow.operators.activity import CallLogExtractOperator

with DAG(
    dag_id="e2e_extract_outage",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Enough tries, spaced enough, to outlast a one-minute outage.
    default_args={"retries": 8, "retry_delay": timedelta(seconds=10)},
    tags=["e2e"],
):
    CallLogExtractOperator(
        task_id="extract_call_logs",
        votel_conn_id="votel_extract",
        since="{{ dag_run.conf['since'] }}",
        until="{{ dag_run.conf['until'] }}",
        destination="s3://e2e_s3@votel-e2e/outage/{{ run_id | replace(':', '_') }}/calls.jsonl",
    )
