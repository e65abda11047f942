"""Activity operators against the sandbox over HTTP: exact windows, atomic files, flat memory."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.compat import Asset
from votel_airflow.exceptions import VotelInputError, VotelServerError
from votel_airflow.hooks.pages import RecordPage
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import (
    ActivityReportOperator,
    CallLogExtractOperator,
    MeetingLogExtractOperator,
    MessagingLogExtractOperator,
)

SINCE = pendulum.datetime(2026, 10, 2, tz="UTC")
UNTIL = pendulum.datetime(2026, 10, 3, tz="UTC")
WIDE = (pendulum.datetime(2020, 1, 1, tz="UTC"), pendulum.datetime(2030, 1, 1, tz="UTC"))


def read_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raw = gzip.decompress(path.read_bytes()) if fmt == "jsonl.gz" else path.read_bytes()
    return [json.loads(line) for line in raw.decode().splitlines()]


def direct_rows(endpoint: str, since: Any, until: Any, **filters: Any) -> list[dict[str, Any]]:
    params = {"since": since.isoformat(), "until": until.isoformat(), **filters}
    return list(VotelHook().paginate(endpoint, params=params, page_size=500))


def in_window(row: dict[str, Any], since: Any, until: Any) -> bool:
    return bool(since <= pendulum.parse(row["created_at"]) < until)


def ordered_key(row: dict[str, Any]) -> tuple[Any, str]:
    return pendulum.parse(row["created_at"]), row["id"]


@pytest.fixture
def call_logs(votel_sandbox: Any, votel_api_key: str, votel_connection: str) -> str:
    """~1,500 calls around the window, plus one row exactly at ``since`` and one exactly at ``until``."""
    admin = votel_sandbox.admin
    admin.generate_call_logs(votel_api_key, 1500, SINCE.subtract(hours=12), UNTIL.add(hours=12))
    admin.generate_call_logs(votel_api_key, 1, SINCE, SINCE.add(seconds=1))
    admin.generate_call_logs(votel_api_key, 1, UNTIL, UNTIL.add(seconds=1))
    return votel_api_key


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_extract_writes_exactly_the_rows_of_the_window_in_order(
    call_logs: str, tmp_path: Path, fmt: str
) -> None:
    target = tmp_path / f"calls.{fmt}"
    op = CallLogExtractOperator(
        task_id="calls", destination=str(target), since=SINCE.isoformat(), until=UNTIL.isoformat(),
        format=fmt, page_size=97,
    )  # fmt: skip

    manifest = op.execute(make_context())

    rows = read_rows(target, fmt)
    ids = [row["id"] for row in rows]
    direct = [row["id"] for row in direct_rows(endpoints.CALL_LOGS, SINCE, UNTIL)]
    wider = direct_rows(endpoints.CALL_LOGS, SINCE.subtract(days=2), UNTIL.add(days=2))
    filtered = [row["id"] for row in wider if in_window(row, SINCE, UNTIL)]
    assert ids == direct == filtered
    assert len(ids) == len(set(ids)) > 500
    assert [ordered_key(r) for r in rows] == sorted(ordered_key(r) for r in rows)
    assert manifest == {
        "uri": f"file://{target}",
        "records": len(ids),
        "since": SINCE.isoformat(),
        "until": UNTIL.isoformat(),
        "format": fmt,
    }


def test_window_is_half_open_row_at_since_in_row_at_until_out(call_logs: str, tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    CallLogExtractOperator(
        task_id="calls", destination=str(target), since=SINCE.isoformat(), until=UNTIL.isoformat()
    ).execute(make_context())

    stamps = [pendulum.parse(row["created_at"]) for row in read_rows(target, "jsonl")]
    assert stamps[0] == SINCE
    assert max(stamps) < UNTIL
    assert any(
        pendulum.parse(r["created_at"]) == UNTIL
        for r in direct_rows(endpoints.CALL_LOGS, UNTIL, UNTIL.add(seconds=1))
    )


def test_default_window_is_the_run_data_interval(call_logs: str, tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    op = CallLogExtractOperator(task_id="calls", destination=str(target))

    manifest = op.execute(make_context(data_interval_start=SINCE, data_interval_end=UNTIL))

    assert (manifest["since"], manifest["until"]) == (SINCE.isoformat(), UNTIL.isoformat())
    direct = [row["id"] for row in direct_rows(endpoints.CALL_LOGS, SINCE, UNTIL)]
    assert [row["id"] for row in read_rows(target, "jsonl")] == direct


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_rerun_of_the_same_interval_writes_byte_identical_files(
    call_logs: str, tmp_path: Path, fmt: str
) -> None:
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    for target in (first, second):
        CallLogExtractOperator(task_id="calls", destination=str(target), format=fmt, page_size=113).execute(
            make_context(data_interval_start=SINCE, data_interval_end=UNTIL)
        )
    assert first.stat().st_size > 0
    assert first.read_bytes() == second.read_bytes()


def test_filters_select_only_matching_calls(call_logs: str, tmp_path: Path) -> None:
    everything = direct_rows(endpoints.CALL_LOGS, SINCE, UNTIL)
    agent_id = everything[0]["agent_id"]
    target = tmp_path / "calls.jsonl"
    CallLogExtractOperator(
        task_id="calls", destination=str(target), since=SINCE.isoformat(), until=UNTIL.isoformat(),
        filters={"agent_id": agent_id, "status": "no_answer"},
    ).execute(make_context())  # fmt: skip

    rows = read_rows(target, "jsonl")
    expected = [r["id"] for r in everything if r["agent_id"] == agent_id and r["status"] == "no_answer"]
    assert [r["id"] for r in rows] == expected
    assert 0 < len(expected) < len(everything)


def _flaky_pages(op: CallLogExtractOperator, admin: Any) -> None:
    """Break the sandbox for good right after the first page has been handed to the writer."""
    pages = op.hook.iter_raw_pages

    def wrapper(*args: Any, **kwargs: Any) -> Iterator[RecordPage]:
        for number, page in enumerate(pages(*args, **kwargs)):
            yield page
            if number == 0:
                admin.set_faults(error_rate=1.0)

    op.hook.iter_raw_pages = wrapper  # type: ignore[method-assign]


def test_fault_mid_stream_leaves_no_file_and_the_retry_writes_the_full_file(
    call_logs: str, votel_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "votel", "host": votel_sandbox.base_url, "password": call_logs,
        "extra": {"max_retries": 1},
    }  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_FLAKY", json.dumps(conn))
    folder = tmp_path / "out"
    target = folder / "calls.jsonl"

    def operator() -> CallLogExtractOperator:
        return CallLogExtractOperator(
            task_id="calls", destination=str(target), votel_conn_id="votel_flaky", page_size=100,
            since=SINCE.isoformat(), until=UNTIL.isoformat(),
        )  # fmt: skip

    failing = operator()
    _flaky_pages(failing, votel_sandbox.admin)
    try:
        with pytest.raises(VotelServerError):
            failing.execute(make_context())
    finally:
        votel_sandbox.admin.clear_faults()
    assert list(folder.iterdir()) == []

    manifest = operator().execute(make_context())

    assert [p.name for p in folder.iterdir()] == ["calls.jsonl"]
    direct = [row["id"] for row in direct_rows(endpoints.CALL_LOGS, SINCE, UNTIL)]
    assert [r["id"] for r in read_rows(target, "jsonl")] == direct
    assert manifest["records"] == len(direct)


def test_memory_stays_flat_at_one_page_for_50000_calls(
    votel_sandbox: Any, votel_api_key: str, votel_connection: str, tmp_path: Path
) -> None:
    since, until = pendulum.datetime(2026, 9, 1, tz="UTC"), pendulum.datetime(2026, 9, 2, tz="UTC")
    votel_sandbox.admin.generate_call_logs(votel_api_key, 50_000, since, until)
    sample = direct_rows(endpoints.CALL_LOGS, since, since.add(minutes=15))
    op = CallLogExtractOperator(
        task_id="calls", destination=str(tmp_path / "calls.jsonl"), since=since.isoformat(),
        until=until.isoformat(), page_size=500,
    )  # fmt: skip

    tracemalloc.start()
    try:
        manifest = op.execute(make_context())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # What one parsed row costs, measured on real rows, times the rows held if nothing streamed.
    tracemalloc.start()
    try:
        copies = json.loads(json.dumps(sample))
        per_row = tracemalloc.get_traced_memory()[0] / len(copies)
    finally:
        tracemalloc.stop()
    assert manifest["records"] == 50_000
    # Measured: about 3 pages' worth (the page being parsed, the one being written, buffers).
    assert peak < 6 * 500 * per_row, (peak, per_row)


def test_static_destination_is_declared_as_an_asset_outlet(tmp_path: Path) -> None:
    op = CallLogExtractOperator(task_id="calls", destination=str(tmp_path / "calls.jsonl"))
    templated = CallLogExtractOperator(task_id="t", destination=str(tmp_path / "{{ ds }}.jsonl"))

    assert op.outlets == [Asset(f"file://{tmp_path}/calls.jsonl")]
    assert templated.outlets == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"since": "2026-10-03T00:00:00Z", "until": "2026-10-02T00:00:00Z"}, "until"),
        ({"since": "yesterday-ish", "until": "2026-10-02T00:00:00Z"}, "since"),
        ({"filters": {"campaign": "x"}}, "filters"),
        ({"filters": {"status": "done"}}, "filters['status']"),
    ],
)
def test_bad_input_fails_before_any_request_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str
) -> None:
    def no_request(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a request was made")

    monkeypatch.setattr(VotelHook, "request", no_request)
    op = CallLogExtractOperator(task_id="calls", destination=str(tmp_path / "out" / "c.jsonl"), **kwargs)

    with pytest.raises(VotelInputError) as info:
        op.execute(make_context())

    assert info.value.field == field
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"format": "csv"}, "format"), ({"destination": "relative/calls.jsonl"}, "destination")],
)
def test_bad_static_argument_fails_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(VotelInputError) as info:
        CallLogExtractOperator(task_id="calls", **{"destination": "/tmp/calls.jsonl", **kwargs})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("operator", "endpoint"),
    [
        (MeetingLogExtractOperator, endpoints.MEETING_LOGS),
        (MessagingLogExtractOperator, endpoints.MESSAGING_LOGS),
    ],
)
def test_meeting_and_messaging_extracts_write_the_window_rows(
    votel_connection: str, tmp_path: Path, operator: type[Any], endpoint: str
) -> None:
    wide = direct_rows(endpoint, *WIDE)
    stamps = sorted(pendulum.parse(r["created_at"]) for r in wide)
    since, until = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    target = tmp_path / "logs.jsonl"

    manifest = operator(
        task_id="logs",
        destination=str(target),
        since=since.isoformat(),
        until=until.isoformat(),
        page_size=50,
    ).execute(make_context())

    ids = [r["id"] for r in read_rows(target, "jsonl")]
    assert ids == [r["id"] for r in wide if in_window(r, since, until)]
    assert manifest["records"] == len(ids) > 0


def test_messaging_direction_filter_keeps_only_that_direction(votel_connection: str, tmp_path: Path) -> None:
    target = tmp_path / "inbound.jsonl"
    MessagingLogExtractOperator(
        task_id="logs", destination=str(target), since=WIDE[0].isoformat(), until=WIDE[1].isoformat(),
        filters={"direction": "inbound"},
    ).execute(make_context())  # fmt: skip

    rows = read_rows(target, "jsonl")
    expected = [r["id"] for r in direct_rows(endpoints.MESSAGING_LOGS, *WIDE) if r["direction"] == "inbound"]
    assert [r["id"] for r in rows] == expected
    assert rows


def test_messaging_channel_and_contact_filters_keep_only_those_rows(
    votel_connection: str, tmp_path: Path
) -> None:
    some = direct_rows(endpoints.MESSAGING_LOGS, *WIDE)[0]
    target = tmp_path / "one.jsonl"
    MessagingLogExtractOperator(
        task_id="logs", destination=str(target), since=WIDE[0].isoformat(), until=WIDE[1].isoformat(),
        filters={"channel": some["channel"], "contact_id": some["contact_id"]},
    ).execute(make_context())  # fmt: skip

    rows = read_rows(target, "jsonl")
    expected = [
        r["id"] for r in direct_rows(endpoints.MESSAGING_LOGS, *WIDE)
        if (r["channel"], r["contact_id"]) == (some["channel"], some["contact_id"])
    ]  # fmt: skip
    assert [r["id"] for r in rows] == expected
    assert some["id"] in expected


def test_messaging_extract_refuses_a_channel_the_log_does_not_hold(tmp_path: Path) -> None:
    op = MessagingLogExtractOperator(
        task_id="m", destination=str(tmp_path / "m.jsonl"), filters={"channel": "call"}
    )
    with pytest.raises(VotelInputError, match="channel"):
        op.execute(make_context())


def test_meeting_extract_refuses_any_filter(tmp_path: Path) -> None:
    op = MeetingLogExtractOperator(
        task_id="m", destination=str(tmp_path / "m.jsonl"), filters={"status": "completed"}
    )
    with pytest.raises(VotelInputError, match="unknown name"):
        op.execute(make_context())


def test_activity_report_defaults_to_the_data_interval_and_returns_the_report(
    votel_connection: str,
) -> None:
    report = ActivityReportOperator(task_id="report", kind="widget").execute(
        make_context(data_interval_start=SINCE, data_interval_end=SINCE.add(days=3))
    )

    assert report["kind"] == "widget"
    assert pendulum.parse(report["since"]) == SINCE
    assert pendulum.parse(report["until"]) == SINCE.add(days=3)
    assert [row["date"] for row in report["rows"]] == ["2026-10-02", "2026-10-03", "2026-10-04"]


def test_activity_report_writes_its_rows_to_a_destination(call_logs: str, tmp_path: Path) -> None:
    target = tmp_path / "phone.jsonl"

    manifest = ActivityReportOperator(
        task_id="report", kind="phone", since=SINCE.isoformat(), until=UNTIL.isoformat(),
        destination=str(target),
    ).execute(make_context())  # fmt: skip

    rows = read_rows(target, "jsonl")
    calls = direct_rows(endpoints.CALL_LOGS, SINCE, UNTIL)
    assert manifest["records"] == len(rows) == 1
    assert manifest["kind"] == "phone"
    assert rows[0]["calls"] == len(calls)
    assert rows[0]["no_answer"] == sum(r["status"] == "no_answer" for r in calls)


def test_activity_report_kind_is_validated_at_parse_and_after_rendering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(VotelInputError, match="kind='email'"):
        ActivityReportOperator(task_id="report", kind="email")
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))
    rendered_later = ActivityReportOperator(task_id="report", kind="{{ params.kind }}")
    rendered_later.kind = "calls"
    with pytest.raises(VotelInputError, match="kind='calls'"):
        rendered_later.execute(make_context())


def test_extract_renders_destination_window_and_filters_with_jinja(tmp_path: Path) -> None:
    op = CallLogExtractOperator(
        task_id="calls", destination=str(tmp_path / "{{ ds }}.jsonl"), since="{{ data_interval_start }}",
        until="{{ data_interval_end }}", filters={"status": "{{ params.status }}"},
    )  # fmt: skip
    context = make_context(ds="2026-11-01", params={"status": "completed"})

    op.render_template_fields(context)

    assert op.destination == str(tmp_path / "2026-11-01.jsonl")
    assert (op.since, op.until) == ("2026-11-01 00:00:00+00:00", "2026-11-02 00:00:00+00:00")
    assert op.filters == {"status": "completed"}
