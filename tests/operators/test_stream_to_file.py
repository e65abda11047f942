"""The one stream-to-file path: every paged writer reads ahead, every file is published atomically."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_context, stale_temp_file
from votel_airflow import endpoints
from votel_airflow.delivery.engine import SendRequest, send_each
from votel_airflow.destinations import as_storage_path
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.click_tracking import ClickExtractOperator
from votel_airflow.operators.conversations import ConversationExtractOperator
from votel_airflow.operators.generic import VotelApiOperator
from votel_airflow.operators.settings import VotelListOperator
from votel_airflow.stream_to_file import write_document, write_pages

#: The window of the seeded data the extracts below read (the sandbox seeds around "now").
SINCE, UNTIL = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"


class ThreadNotingHook(VotelHook):
    """The real hook over real HTTP, noting which thread made each request."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    # _send is where every request goes, pages read ahead included (request() serves the rest).
    def _send(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests.append((call.path, threading.current_thread().name))
        return super()._send(call, *args, **kwargs)


def _first_link(hook: VotelHook) -> str:
    return str(next(iter(hook.paginate("/tracking-links")))["id"])


#: Each writer with a paged source, and the path of the pages it streams to the file.
PAGED_WRITERS: dict[str, tuple[Callable[[str, VotelHook], VotelBaseOperator], str]] = {
    "call_log_extract": (
        lambda out, hook: CallLogExtractOperator(
            task_id="t", destination=out, since=SINCE, until=UNTIL, page_size=7
        ),
        r"/activity/call-logs",
    ),
    "list": (
        lambda out, hook: VotelListOperator(task_id="t", resource="tts_voices", destination=out, page_size=2),
        r"/tts-voices",
    ),
    "api_paginate": (
        lambda out, hook: VotelApiOperator(
            task_id="t", path="/tts-voices", paginate=True, destination=out, page_size=2
        ),
        r"/tts-voices",
    ),
    "click_extract": (
        lambda out, hook: ClickExtractOperator(
            task_id="t", link_id=_first_link(hook), destination=out, since=SINCE, until=UNTIL, page_size=3
        ),
        r"/tracking-links/[^/]+/clicks",
    ),
    "conversation_extract": (
        lambda out, hook: ConversationExtractOperator(
            task_id="t", destination=out, since=SINCE, until=UNTIL, page_size=5
        ),
        # The thread list; each thread's own messages (one short page) are read in turn.
        r"/conversations",
    ),
}


@pytest.mark.parametrize("writer", sorted(PAGED_WRITERS))
def test_every_paged_writer_reads_its_pages_ahead(
    writer: str, tmp_path: Path, votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    build, pattern = PAGED_WRITERS[writer]
    hook = ThreadNotingHook()
    destination = tmp_path / "out.jsonl"
    operator = build(str(destination), hook)
    operator.hook = hook  # type: ignore[misc]  # the cached hook, replaced by the noting one

    manifest = operator.execute(make_context())

    streamed = [name for path, name in hook.requests if re.fullmatch(pattern, path)]
    # More than one page each, so reading ahead had something to overlap.
    assert len(streamed) > 2
    assert all(name.startswith("votel-read-ahead") for name in streamed), streamed
    assert manifest["records"] == len(destination.read_text().splitlines()) > 0


def test_the_send_results_file_removes_temporary_files_a_killed_run_left(
    tmp_path: Path, votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    stale = stale_temp_file(folder, "sms.json", age_seconds=60)
    other = stale_temp_file(folder, "mms.json", age_seconds=60)
    destination = folder / "sms.json"

    def sms(number: Any) -> SendRequest:
        return SendRequest("POST", endpoints.SMS, {"to": number, "body": "hi"})

    summary = send_each(
        VotelHook(),
        make_context(),
        ["+14155550101", "+14155550102"],
        sms,
        name="sms",
        results_destination=str(destination),
    )

    assert not stale.exists()
    assert other.exists()  # another destination's leftovers are not this write's to judge
    assert sorted(json.loads(destination.read_text()).values()) == sorted(summary["message_ids"])


def test_a_document_that_fails_to_write_leaves_nothing_behind(tmp_path: Path) -> None:
    destination = as_storage_path("destination", str(tmp_path / "results.json"))

    with pytest.raises(TypeError):
        write_document(destination, "not bytes")  # type: ignore[arg-type]

    assert list(tmp_path.iterdir()) == []


def test_a_document_is_written_whole_and_an_older_one_replaced(tmp_path: Path) -> None:
    destination = as_storage_path("destination", str(tmp_path / "results.json"))

    write_document(destination, b'{"a":"m-1"}')
    uri = write_document(destination, b'{"a":"m-2"}')

    assert uri == f"file://{tmp_path / 'results.json'}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert (tmp_path / "results.json").read_bytes() == b'{"a":"m-2"}'


def test_a_failed_write_stops_its_source_at_once_and_publishes_nothing(tmp_path: Path) -> None:
    destination = as_storage_path("destination", str(tmp_path / "rows.jsonl"))
    closed: list[bool] = []

    def pages() -> Iterator[list[dict[str, Any]]]:
        # The first record cannot be written; the writer thread's failure surfaces within a
        # few pages (its queue holds one), long before this source runs out.
        try:
            yield [{"id": object()}]
            for n in range(1000):
                yield [{"id": n}]
        finally:
            closed.append(True)

    with pytest.raises(TypeError, match="not JSON serializable"):
        write_pages(destination, "jsonl", pages())

    # Closed by the write itself, not left to the collection of the traceback that holds it.
    assert closed == [True]
    assert list(tmp_path.iterdir()) == []
