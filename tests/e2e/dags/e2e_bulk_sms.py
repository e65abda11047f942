"""Scenario 2: one task texts 3,000 numbers at 100 a second; its worker is lost a third of the way."""

from __future__ import annotations

from e2e_defaults import e2e_dag

from votel_airflow.operators.communication import SendSmsOperator

#: Distinct E.164 numbers, one per recipient.
RECIPIENTS = [f"+1415555{i:04d}" for i in range(3000)]

with e2e_dag("e2e_bulk_sms", retries=2):
    SendSmsOperator(
        task_id="send_sms",
        votel_conn_id="votel_send",
        to=RECIPIENTS,
        body="Your order has shipped.",
        rate_limit=100,
    )
