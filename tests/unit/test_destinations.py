"""Atomic page-by-page writers: complete files or none, deterministic bytes, clear path errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from votel_airflow.compat import ObjectStoragePath
from votel_airflow.destinations import AtomicRecordWriter, as_storage_path, optional_storage_path
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.pages import RecordPage

PAGES = [
    [{"id": "c-1", "name": "Ann", "tags": ["vip"], "meta": {"b": 1, "a": 2}}, {"id": "c-2", "name": "Bo"}],
    [{"id": "c-3", "name": "Cy", "score": 1.5}],
]


def _write(path: Path, fmt: str, pages: list[list[dict[str, Any]]] = PAGES) -> AtomicRecordWriter:
    with AtomicRecordWriter(as_storage_path("destination", str(path)), fmt) as writer:
        for page in pages:
            writer.write_page(page)
    return writer


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_jsonl_has_one_sorted_compact_record_per_line(tmp_path: Path) -> None:
    writer = _write(tmp_path / "out.jsonl", "jsonl")

    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert writer.records == 3
    assert lines[0] == '{"id":"c-1","meta":{"a":2,"b":1},"name":"Ann","tags":["vip"]}'
    assert [json.loads(line)["id"] for line in lines] == ["c-1", "c-2", "c-3"]


def test_jsonl_gz_bytes_are_identical_across_reruns(tmp_path: Path) -> None:
    target = tmp_path / "a.jsonl.gz"
    _write(target, "jsonl.gz")
    first = target.read_bytes()
    _write(target, "jsonl.gz")

    # Neither the time nor the (random) temporary file name may reach the gzip header.
    assert target.read_bytes() == first
    assert len(gzip.decompress(first).decode().splitlines()) == 3


def test_parquet_has_every_row_and_nested_values_as_json_text(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    _write(tmp_path / "out.parquet", "parquet")

    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [row["id"] for row in rows] == ["c-1", "c-2", "c-3"]
    assert rows[0]["tags"] == '["vip"]'
    assert json.loads(rows[0]["meta"]) == {"a": 2, "b": 1}


def test_parquet_column_all_null_on_the_first_page_keeps_later_values(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pages = [
        [{"id": "c-1", "outcome": None}, {"id": "c-2", "outcome": None}],
        [{"id": "c-3", "outcome": "booked"}],
    ]
    _write(tmp_path / "calls.parquet", "parquet", pages)

    table = pq.read_table(tmp_path / "calls.parquet")
    assert str(table.schema.field("outcome").type) == "string"
    assert table.column("outcome").to_pylist() == [None, None, "booked"]


BEYOND_DOUBLE = 2**53 + 1  # 9007199254740993: the first whole number with no exact double


@pytest.mark.parametrize("order", ["ints first", "floats first"])
def test_parquet_keeps_whole_numbers_beyond_2_53_when_another_page_has_fractions(
    tmp_path: Path, order: str
) -> None:
    import pyarrow.parquet as pq

    pages = [[{"id": "t-1", "amount": BEYOND_DOUBLE}, {"id": "t-2", "amount": -BEYOND_DOUBLE - 2}],
             [{"id": "t-3", "amount": 2.5}, {"id": "t-4", "amount": 2.0}]]  # fmt: skip
    if order == "floats first":
        pages.reverse()

    _write(tmp_path / "tx.parquet", "parquet", pages)

    table = pq.read_table(tmp_path / "tx.parquet")
    assert str(table.schema.field("amount").type) == "string"
    amounts = dict(zip(table.column("id").to_pylist(), table.column("amount").to_pylist(), strict=True))
    # Each value as its JSON text: the whole numbers digit for digit, the floats as floats.
    assert amounts == {"t-1": "9007199254740993", "t-2": "-9007199254740995", "t-3": "2.5", "t-4": "2.0"}
    assert [json.loads(amounts[k]) for k in ("t-1", "t-2")] == [BEYOND_DOUBLE, -BEYOND_DOUBLE - 2]


def test_parquet_still_widens_whole_numbers_within_2_53_to_floats(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pages = [[{"amount": 2**53}, {"amount": -(2**53)}], [{"amount": 2.5}]]
    _write(tmp_path / "tx.parquet", "parquet", pages)

    table = pq.read_table(tmp_path / "tx.parquet")
    assert str(table.schema.field("amount").type) == "double"
    assert table.column("amount").to_pylist() == [2.0**53, -(2.0**53), 2.5]


def test_parquet_without_any_record_is_still_a_readable_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    writer = _write(tmp_path / "empty.parquet", "parquet", [])

    assert writer.records == 0
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def _write_then_fail(path: Path, fmt: str, pages: list[list[dict[str, Any]]] = PAGES) -> None:
    """Write pages, then fail the way an extraction does when the API goes away mid-way."""
    with AtomicRecordWriter(as_storage_path("destination", str(path)), fmt) as writer:
        for page in pages:
            writer.write_page(page)
        raise RuntimeError("API went away")


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_a_failure_leaves_no_file_and_no_temporary_file(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(RuntimeError, match="API went away"):
        _write_then_fail(tmp_path / f"out.{fmt}", fmt)

    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_rerun_keeps_the_previous_complete_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    _write(target, "jsonl")
    before = target.read_bytes()

    with pytest.raises(RuntimeError):
        _write_then_fail(target, "jsonl", [[{"id": "new"}]])

    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_rerun_overwrites_the_file_in_one_move(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    _write(target, "jsonl")

    _write(target, "jsonl", [[{"id": "only"}]])

    assert target.read_text() == '{"id":"only"}\n'
    assert _leftovers(tmp_path) == []


def test_the_file_appears_only_when_every_page_is_in(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.jsonl"
    with AtomicRecordWriter(as_storage_path("destination", str(target)), "jsonl") as writer:
        writer.write_page(PAGES[0])
        assert not target.exists()
        assert len(_leftovers(target.parent)) == 1
    assert target.exists()


def _finish_on_a_full_disk(target: Path, mocker: Any) -> None:
    with AtomicRecordWriter(as_storage_path("destination", str(target)), "parquet") as writer:
        writer.write_page(PAGES[0])
        sink = writer._parquet
        assert sink is not None
        real_close = sink.close

        def close_then_fail() -> None:
            real_close()
            raise OSError("disk full")

        mocker.patch.object(sink, "close", side_effect=close_then_fail)


def test_a_failure_to_finish_the_file_publishes_nothing(tmp_path: Path, mocker: Any) -> None:
    with pytest.raises(OSError, match="disk full"):
        _finish_on_a_full_disk(tmp_path / "out.parquet", mocker)

    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_missing_pyarrow_leaves_no_temporary_file(tmp_path: Path, mocker: Any) -> None:
    mocker.patch.dict("sys.modules", {"pyarrow": None, "pyarrow.parquet": None})
    writer = AtomicRecordWriter(as_storage_path("destination", str(tmp_path / "x.parquet")), "parquet")

    with pytest.raises(VotelInputError, match="needs pyarrow"):
        writer.__enter__()

    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_unknown_format_is_refused() -> None:
    with pytest.raises(
        VotelInputError, match=r"format='csv': is not one of \['jsonl', 'jsonl.gz', 'parquet'\]"
    ):
        AtomicRecordWriter(ObjectStoragePath("file:///tmp/x.csv"), "csv")


def test_absolute_path_and_file_url_are_accepted(tmp_path: Path) -> None:
    assert as_storage_path("destination", str(tmp_path / "a.jsonl")).path.endswith("a.jsonl")
    assert as_storage_path("destination", f"file://{tmp_path}/a.jsonl").protocol in ("file", "local")


def test_relative_path_is_refused() -> None:
    with pytest.raises(VotelInputError, match=r"destination='data/calls\.jsonl': is a relative path"):
        as_storage_path("destination", "data/calls.jsonl")


@pytest.mark.parametrize("value", ["/data/exports/", "", None, "s3://bucket/"])
def test_folder_or_empty_destination_is_refused(value: Any) -> None:
    with pytest.raises(VotelInputError, match="must name a file"):
        as_storage_path("destination", value)


def test_unknown_protocol_is_refused_clearly() -> None:
    with pytest.raises(
        VotelInputError, match=r"destination='nope://b/x.jsonl': is not a storage URL .*file://"
    ):
        as_storage_path("destination", "nope://b/x.jsonl")


def test_an_optional_file_is_none_when_unset_and_checked_when_given(tmp_path: Path) -> None:
    assert optional_storage_path("results_destination", None) is None
    given = optional_storage_path("results_destination", str(tmp_path / "r.json"))
    assert given is not None
    assert given.path.endswith("r.json")
    with pytest.raises(VotelInputError, match=r"results_destination='r\.json': is a relative path"):
        optional_storage_path("results_destination", "r.json")


def _raw_page(*texts: str) -> RecordPage:
    return RecordPage([text.encode() for text in texts])


def test_a_page_with_record_texts_is_written_as_the_server_sent_it(tmp_path: Path) -> None:
    # Key order and spacing as sent (not sorted, not re-encoded): the texts are written verbatim.
    page = _raw_page('{"name":"Ann","id":"c-1","x":"é"}', '{"id": "c-2"}')
    target = tmp_path / "out.jsonl"

    writer = _write(target, "jsonl", [page])

    assert writer.records == 2
    assert target.read_text(encoding="utf-8") == '{"name":"Ann","id":"c-1","x":"é"}\n{"id": "c-2"}\n'


def test_parquet_reads_the_records_of_a_page_with_texts(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    _write(tmp_path / "out.parquet", "parquet", [_raw_page('{"id":"c-1","n":1}', '{"id":"c-2","n":2}')])

    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [
        {"id": "c-1", "n": 1},
        {"id": "c-2", "n": 2},
    ]


def test_jsonl_gz_is_a_standard_gzip_file_at_isal_level_2_by_default_and_takes_another(
    tmp_path: Path,
) -> None:
    pages = [[{"id": f"c-{n}", "note": "call me back tomorrow " * (n % 7)} for n in range(2_000)]]
    payload = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in pages[0]).encode()
    files = {level: tmp_path / f"level{level}.jsonl.gz" for level in (0, 2, 3)}

    _write(files[2], "jsonl.gz", pages)
    for level in (0, 3):
        destination = as_storage_path("destination", str(files[level]))
        with AtomicRecordWriter(destination, "jsonl.gz", compresslevel=level) as writer:
            writer.write_page(pages[0])

    # Any gzip reader (here the stdlib's zlib) reads them; a higher level gives a smaller file.
    assert all(gzip.decompress(path.read_bytes()) == payload for path in files.values())
    sizes = [files[level].stat().st_size for level in (0, 2, 3)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[1]


@pytest.mark.parametrize("level", [-1, 4, 9])
def test_a_compresslevel_outside_0_to_3_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match=r"compresslevel must be between 0 and 3 \(ISA-L levels\)"):
        AtomicRecordWriter(ObjectStoragePath("file:///tmp/x.jsonl.gz"), "jsonl.gz", compresslevel=level)


def test_pages_are_compressed_and_written_in_a_background_thread(tmp_path: Path, mocker: Any) -> None:
    import threading

    from isal import igzip

    writers: list[str] = []
    real_write = igzip.GzipFile.write

    def record_thread(self: igzip.GzipFile, data: Any) -> int:
        writers.append(threading.current_thread().name)
        return int(real_write(self, data))

    mocker.patch.object(igzip.GzipFile, "write", record_thread)
    _write(tmp_path / "out.jsonl.gz", "jsonl.gz")

    assert writers
    assert threading.main_thread().name not in writers
    assert all(name.startswith("votel-writer-") for name in writers)


class _FailingStream:
    """A stream whose writes fail from the n-th on, the way a full disk does."""

    def __init__(self, inner: Any, fail_at: int) -> None:
        self._inner = inner
        self._fail_at = fail_at
        self._writes = 0

    def write(self, data: bytes) -> int:
        self._writes += 1
        if self._writes >= self._fail_at:
            raise OSError(28, "disk full")
        return int(self._inner.write(data))


def _write_to_a_full_disk(path: Path, fmt: str, fail_at: int, pages: int, accepted: list[int]) -> None:
    """Write one-record pages while the writer thread's writes fail from the n-th on."""
    with AtomicRecordWriter(as_storage_path("destination", str(path)), fmt) as writer:
        assert writer._writer is not None
        writer._writer._stream = _FailingStream(writer._writer._stream, fail_at)  # type: ignore[assignment]
        for number in range(pages):
            writer.write_page([{"id": f"c-{number}"}])
            accepted.append(number)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_a_failure_in_the_writer_thread_fails_the_write_and_leaves_no_file(tmp_path: Path, fmt: str) -> None:
    # The last page may still be queued when the thread fails: the error surfaces at the exit.
    with pytest.raises(OSError, match="disk full"):
        _write_to_a_full_disk(tmp_path / f"out.{fmt}", fmt, fail_at=2, pages=2, accepted=[])

    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_writer_thread_failure_stops_the_caller_within_a_few_pages(tmp_path: Path) -> None:
    accepted: list[int] = []

    with pytest.raises(OSError, match="disk full"):
        _write_to_a_full_disk(tmp_path / "out.jsonl", "jsonl", fail_at=1, pages=1_000, accepted=accepted)

    # Raised by write_page (the queue holds one page), long before the 1,000th page.
    assert len(accepted) < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _parquet(path: Path, pages: list[Any]) -> Any:
    import pyarrow.parquet as pq

    _write(path, "parquet", pages)
    return pq.read_table(path)


def test_parquet_keeps_a_column_first_seen_on_a_later_page(tmp_path: Path) -> None:
    pages = [[{"id": "c-1"}, {"id": "c-2"}], [{"id": "c-3", "sentiment": "happy"}], [{"id": "c-4"}]]

    table = _parquet(tmp_path / "calls.parquet", pages)

    assert table.column_names == ["id", "sentiment"]
    assert table.column("sentiment").to_pylist() == [None, None, "happy", None]


def test_parquet_widens_whole_numbers_to_floats_across_pages(tmp_path: Path) -> None:
    pages = [[{"id": "c-1", "cost": 1}], [{"id": "c-2", "cost": 2.5}], [{"id": "c-3", "cost": 3}]]

    table = _parquet(tmp_path / "calls.parquet", pages)

    assert str(table.schema.field("cost").type) == "double"
    assert table.column("cost").to_pylist() == [1.0, 2.5, 3.0]


def test_parquet_turns_a_column_of_drifting_types_into_json_text(tmp_path: Path) -> None:
    pages = [
        [{"id": "c-1", "code": 17}, {"id": "c-2", "code": None}],
        [{"id": "c-3", "code": "A7"}],
        [{"id": "c-4", "code": True}, {"id": "c-5", "code": 2.0}, {"id": "c-6", "code": {"x": 1}}],
    ]

    table = _parquet(tmp_path / "calls.parquet", pages)

    assert str(table.schema.field("code").type) == "string"
    assert table.column("code").to_pylist() == ["17", None, "A7", "true", "2.0", '{"x": 1}']


def test_parquet_keeps_a_page_that_mixes_types_within_itself(tmp_path: Path) -> None:
    huge = 2**70
    pages = [_raw_page('{"id":"c-1","n":1,"big":1}', f'{{"id":"c-2","n":"one","big":{huge}}}')]

    table = _parquet(tmp_path / "mixed.parquet", pages)

    assert table.to_pylist() == [
        {"id": "c-1", "n": "1", "big": "1"},
        {"id": "c-2", "n": "one", "big": str(huge)},
    ]


def test_parquet_with_drift_has_as_many_rows_as_were_written(tmp_path: Path) -> None:
    pages = [
        [{"id": f"c-{p}-{n}", f"field_{p}": n if p % 2 else str(n)} for n in range(50)] for p in range(8)
    ]

    table = _parquet(tmp_path / "wide.parquet", pages)

    assert table.num_rows == 400
    assert table.column_names == ["id", *[f"field_{p}" for p in range(8)]]
    assert table.column("field_7").to_pylist()[-50:] == list(range(50))


def test_parquet_keeps_a_column_that_only_a_later_row_of_the_first_page_has(tmp_path: Path) -> None:
    pages = [_raw_page('{"id":"c-1"}', '{"id":"c-2","html":"<b>hi</b>"}')]

    table = _parquet(tmp_path / "page.parquet", pages)

    assert table.to_pylist() == [{"id": "c-1", "html": None}, {"id": "c-2", "html": "<b>hi</b>"}]
