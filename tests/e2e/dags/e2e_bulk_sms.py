"""Scenario 2: one task texts 3,000 numbers at 100 a second; its worker is lost a third of the way."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from votel_airflow.operators.communication import SendSmsOperator

#: Distinct E.164 numbers, one per recipient.
RECIPIENTS = [f"+1415555{i:04d}" for i in range(3000)]

with DAG(
    dag_id="e2e_bulk_sms",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    tags=["e2e"],
):
    SendSmsOperator(
        task_id="send_sms",
        votel_conn_id="votel_send",
        to=RECIPIENTS,
        body="Your order has shipped.",
        rate_limit=100,
    )
