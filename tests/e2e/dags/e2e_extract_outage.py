"""Scenario 5: a long call-log extract to S3 while the API goes away for a minute."""

from __future__ import annotations

from e2e_defaults import e2e_dag

from votel_airflow.operators.activity import CallLogExtractOperator

# Enough tries, spaced enough, to outlast a one-minute outage.
with e2e_dag("e2e_extract_outage", retries=8, retry_delay=10):
    CallLogExtractOperator(
        task_id="extract_call_logs",
        votel_conn_id="votel_extract",
        since="{{ dag_run.conf['since'] }}",
        until="{{ dag_run.conf['until'] }}",
        destination="s3://e2e_s3@votel-e2e/outage/{{ run_id | replace(':', '_') }}/calls.jsonl",
    )
