"""Raw pages: each record's JSON text as the server sent it, split correctly, written without re-encoding."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import make_context, serve_http
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelNotFoundError, VotelServerError
from votel_airflow.hooks.pages import RecordPage, split_records
from votel_airflow.hooks.votel import READ_AHEAD_PAGES, VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator

from .conftest import API, SetConnection

URL = API + endpoints.CONTACTS
CALLS_URL = API + endpoints.CALL_LOGS


def test_each_record_keeps_its_exact_text_from_a_compact_answer() -> None:
    body = '[{"id":"c-1","note":"a, b] {c}","n":[1,{"x":"]"}]},{"id":"c-2","name":"Zoë \\"Z\\""}]'.encode()

    page = split_records(body)

    assert isinstance(page, RecordPage)
    assert page == json.loads(body)
    assert page.texts == [
        b'{"id":"c-1","note":"a, b] {c}","n":[1,{"x":"]"}]}',
        '{"id":"c-2","name":"Zoë \\"Z\\""}'.encode(),
    ]


def test_whitespace_between_records_is_not_part_of_any_text() -> None:
    page = split_records(b' \r\n[ {"id": "c-1"} ,\t{"id": "c-2"}\n]\n ')

    assert page.texts == [b'{"id": "c-1"}', b'{"id": "c-2"}']
    assert page == [{"id": "c-1"}, {"id": "c-2"}]


def test_a_pretty_printed_record_is_re_encoded_onto_one_line() -> None:
    body = json.dumps([{"id": "c-1", "tags": ["vip", "trial"]}, {"id": "c-2"}], indent=2).encode()

    page = split_records(body)

    assert page.texts == [b'{"id":"c-1","tags":["vip","trial"]}', b'{"id":"c-2"}']


def test_an_empty_array_is_an_empty_page() -> None:
    page = split_records(b"[ ]")

    assert isinstance(page, RecordPage)
    assert (list(page), page.texts) == ([], [])


def test_an_answer_that_is_not_an_array_is_returned_parsed() -> None:
    assert split_records(b' {"detail": "nope"}') == {"detail": "nope"}


@pytest.mark.parametrize(
    "body",
    [b'[{"id":1},]', b'[{"id":1} {"id":2}]', b'[{"id":1}', b'[{"id":1}] x', b'[{"id":1}]]', b"[", b""],
)
def test_malformed_arrays_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError is the ValueError json raises
        split_records(body)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.dictionaries(st.text(max_size=5), _json_values, max_size=4), max_size=6),
    indent=st.sampled_from([None, 1]),
    ensure_ascii=st.booleans(),
)
def test_texts_always_decode_to_the_records_one_line_each(
    records: list[dict[str, Any]], indent: int | None, ensure_ascii: bool
) -> None:
    body = json.dumps(records, indent=indent, ensure_ascii=ensure_ascii).encode()

    page = split_records(body)

    assert page == json.loads(body)
    assert [json.loads(text) for text in page.texts] == list(page)
    assert all(b"\n" not in text and b"\r" not in text for text in page.texts)


@pytest.mark.usefixtures("votel_conn")
def test_iter_raw_pages_pages_like_iter_pages_and_keeps_the_texts(requests_mock: Any) -> None:
    def answer(request: Any, context: Any) -> str:
        limit, offset = int(request.qs["limit"][0]), int(request.qs["offset"][0])
        rows = [
            f'{{"page": {offset // limit}, "id": "c-{i}"}}' for i in range(offset, min(offset + limit, 5))
        ]
        return "[" + ", ".join(rows) + "]"

    requests_mock.get(URL, text=answer, headers={"Content-Type": "application/json"})

    pages = list(VotelHook().iter_raw_pages(endpoints.CONTACTS, page_size=2))

    assert [p.texts for p in pages] == [
        [b'{"page": 0, "id": "c-0"}', b'{"page": 0, "id": "c-1"}'],
        [b'{"page": 1, "id": "c-2"}', b'{"page": 1, "id": "c-3"}'],
        [b'{"page": 2, "id": "c-4"}'],
    ]
    assert [list(p) for p in pages] == [
        list(p) for p in VotelHook().iter_pages(endpoints.CONTACTS, page_size=2)
    ]


@pytest.mark.usefixtures("votel_conn")
def test_iter_raw_pages_refuses_a_non_list_and_malformed_json_clearly(requests_mock: Any) -> None:
    requests_mock.get(URL, json={"items": []})
    with pytest.raises(VotelServerError, match="answered dict, expected a JSON array"):
        list(VotelHook().iter_raw_pages(endpoints.CONTACTS))

    requests_mock.get(URL, text='[{"id": 1},', headers={"Content-Type": "application/json"})
    with pytest.raises(VotelServerError, match="malformed JSON"):
        list(VotelHook().iter_raw_pages(endpoints.CONTACTS))


def test_a_page_parses_its_records_once_and_only_when_read(mocker: Any) -> None:
    page = split_records(b'[{"id":"c-1"},{"id":"c-2"}]')
    loads = mocker.spy(json, "loads")

    assert len(page) == 2
    assert page.texts
    assert loads.call_count == 0
    assert page[1] == {"id": "c-2"}
    assert list(page) == page.records() == [{"id": "c-1"}, {"id": "c-2"}]
    assert loads.call_count == 1


def test_a_utf16_answer_is_read_and_its_records_re_encoded_as_utf8() -> None:
    page = split_records(json.dumps([{"name": "Zoë"}], ensure_ascii=False).encode("utf-16"))

    assert page.texts == ['{"name":"Zoë"}'.encode()]


@pytest.mark.usefixtures("votel_conn")
@pytest.mark.parametrize("total", [0, 4, 5, 6])
def test_reading_ahead_gives_the_same_pages_and_stops_requesting_after_the_last(
    requests_mock: Any, total: int
) -> None:
    offsets: list[int] = []

    def answer(request: Any, context: Any) -> str:
        limit, offset = int(request.qs["limit"][0]), int(request.qs["offset"][0])
        offsets.append(offset)
        return "[" + ",".join(f'{{"id":"c-{i}"}}' for i in range(offset, min(offset + limit, total))) + "]"

    requests_mock.get(URL, text=answer, headers={"Content-Type": "application/json"})
    hook = VotelHook()

    ahead = [p.texts for p in hook.iter_raw_pages(endpoints.CONTACTS, page_size=2, read_ahead=True)]
    asked_ahead = sorted(offsets)
    offsets.clear()
    in_turn = [p.texts for p in hook.iter_raw_pages(endpoints.CONTACTS, page_size=2)]

    assert ahead == in_turn
    assert sum(len(texts) for texts in ahead) == total
    # At most READ_AHEAD_PAGES requests past the ones paging in turn needs, each asked once.
    assert sorted(set(asked_ahead)) == asked_ahead
    assert set(offsets) <= set(asked_ahead)
    assert len(asked_ahead) <= len(offsets) + READ_AHEAD_PAGES


def test_a_request_read_ahead_is_not_retried_once_paging_has_ended(set_connection: SetConnection) -> None:
    # A real threaded server, so the two requests are in flight together (requests_mock answers one
    # at a time) and the order is fixed: the page that ends the listing is answered first, then the
    # page read past the end gets a 429 asking for a long wait that nobody needs to sit through.
    # (A 429 answered before the first page was sent would rightly hold it for the account's 30 s.)
    read_past_the_end = threading.Event()
    last_page_answered = threading.Event()
    throttled: list[str] = []

    class Listing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "offset=0" in self.path:
                read_past_the_end.wait(5)
                self._answer(200, b'[{"id":"c-1"}]', {})
                last_page_answered.set()
            else:
                read_past_the_end.set()
                last_page_answered.wait(5)
                throttled.append(self.path)
                self._answer(429, b'{"detail": "slow down"}', {"Retry-After": "30"})

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(Listing) as root:
        set_connection(host=f"{root}/api")
        started = time.monotonic()

        pages = list(VotelHook().iter_raw_pages(endpoints.CONTACTS, page_size=2, read_ahead=True))
        elapsed = time.monotonic() - started

    assert [p.texts for p in pages] == [[b'{"id":"c-1"}']]
    assert len(throttled) == 1, throttled
    assert elapsed < 10


@pytest.mark.usefixtures("votel_conn")
@pytest.mark.parametrize("read_ahead", [False, True])
def test_a_page_longer_than_the_limit_is_refused(requests_mock: Any, read_ahead: bool) -> None:
    requests_mock.get(URL, json=[{"id": n} for n in range(3)])

    with pytest.raises(VotelServerError, match="answered 3 records for limit=2"):
        list(VotelHook().iter_raw_pages(endpoints.CONTACTS, page_size=2, read_ahead=read_ahead))


@pytest.mark.usefixtures("votel_conn")
def test_a_failure_of_a_page_read_ahead_reaches_the_caller(requests_mock: Any) -> None:
    def answer(request: Any, context: Any) -> str:
        if int(request.qs["offset"][0]) >= 2:
            context.status_code = 404
            return '{"detail": "gone"}'
        return '[{"id":"c-1"},{"id":"c-2"}]'

    requests_mock.get(URL, text=answer, headers={"Content-Type": "application/json"})

    with pytest.raises(VotelNotFoundError, match="gone"):
        list(VotelHook().iter_raw_pages(endpoints.CONTACTS, page_size=2, read_ahead=True))


@pytest.mark.usefixtures("votel_conn")
@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_extract_writes_the_servers_record_texts_and_the_same_bytes_on_a_rerun(
    requests_mock: Any, tmp_path: Path, fmt: str
) -> None:
    # Keys deliberately unsorted and non-ASCII: the file holds the server's own text for each record.
    texts = [f'{{"id":"call-{i}","to":"+1415555{i:04d}","summary":"Réunion {i}"}}' for i in range(7)]

    def answer(request: Any, context: Any) -> str:
        offset = int(request.qs["offset"][0])
        return "[" + ",".join(texts[offset : offset + 5]) + "]"

    requests_mock.get(CALLS_URL, text=answer, headers={"Content-Type": "application/json"})
    target = tmp_path / f"calls.{fmt}"

    def run() -> tuple[dict[str, Any], bytes]:
        op = CallLogExtractOperator(
            task_id="calls", destination=str(target), format=fmt, page_size=5,
            since="2026-10-01T00:00:00Z", until="2026-10-02T00:00:00Z",
        )  # fmt: skip
        return op.execute(make_context()), target.read_bytes()

    manifest, first = run()
    _, second = run()

    content = gzip.decompress(first) if fmt == "jsonl.gz" else first
    assert content.decode("utf-8") == "".join(text + "\n" for text in texts)
    assert manifest["records"] == 7
    assert second == first
