"""A real Parquet extract against the sandbox whose records gain fields from page to page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pendulum

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.conditions.communication import TERMINAL_MESSAGE_STATUSES
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import MessagingLogExtractOperator


def _send_sms_then_email(hook: VotelHook) -> None:
    for n in range(5):
        hook.request("POST", endpoints.SMS, json={"to": f"+1415555{n:04d}", "body": f"hello {n}"})
    # Only e-mail rows carry "template_id" and "html": first seen on the last page.
    hook.request(
        "POST", endpoints.EMAIL, json={"to": "ann@example.com", "subject": "Hi", "html": "<b>hello</b>"}
    )


def test_parquet_extract_keeps_fields_that_appear_on_a_later_page(
    votel_connection: str, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    hook = VotelHook()
    since = pendulum.now("UTC").subtract(seconds=1)
    _send_sms_then_email(hook)
    until = pendulum.now("UTC").add(seconds=1)
    window = {"since": since.isoformat(), "until": until.isoformat(), "direction": "outbound"}
    # Read once every message has settled: a row read while "queued" and extracted once "sent"
    # would differ by the sandbox's delivery clock, not by anything the extract did.
    for _ in range(300):
        direct = list(hook.paginate(endpoints.MESSAGING_LOGS, params=window, page_size=500))
        if all(row["status"] in TERMINAL_MESSAGE_STATUSES for row in direct):
            break
        time.sleep(0.1)
    target = tmp_path / "messages.parquet"

    manifest = MessagingLogExtractOperator(
        task_id="messages", destination=str(target), since=since.isoformat(), until=until.isoformat(),
        filters={"direction": "outbound"}, format="parquet", page_size=2,
    ).execute(make_context())  # fmt: skip

    table = pq.read_table(target)
    assert manifest["records"] == table.num_rows == len(direct) == 6
    assert {"template_id", "html"} <= set(table.column_names)
    rows: list[dict[str, Any]] = table.to_pylist()
    # Every field of every record is in the file; fields a row lacks are null.
    for got, sent in zip(rows, direct, strict=True):
        assert {k: v for k, v in got.items() if k in sent} == sent
        assert all(got[k] is None for k in set(got) - set(sent))
    assert rows[-1]["html"] == "<b>hello</b>"
    assert [r["html"] for r in rows[:-1]] == [None] * 5
