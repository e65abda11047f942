"""Rows for a contact import: from a list of records or streamed from a JSONL or CSV file.

Files are read lazily, one row at a time, and cut into import chunks bounded both in rows and in
encoded bytes (the API refuses request bodies over 1 MiB), so memory holds at most one chunk
whatever the size of the file. Chunk boundaries depend only on the input, so a retried task cuts
the same chunks and can re-attach each to the job a previous try created.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from votel_airflow.compat import ObjectStoragePath
from votel_airflow.destinations import as_storage_path
from votel_airflow.validation import fail, shown

SOURCE_FORMATS = ("jsonl", "csv")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
#: CSV columns ``custom_fields.<key>`` fill the contact's ``custom_fields`` object.
CUSTOM_FIELD_PREFIX = "custom_fields."
#: Separator of the tags in a CSV ``tags`` cell (commas are already the column separator).
CSV_TAG_SEPARATOR = ";"


def as_records(field: str, value: Any) -> list[dict[str, Any]]:
    """A list of contact records (dicts); an XComArg's resolved list is accepted.

    :param field: the argument's name, for the error.
    :param value: the rendered argument.
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise fail(
            field, value, "must be a list of contact objects", "Pass e.g. [{'first_name': 'Ada', ...}]."
        )
    records = list(value)
    bad = [index for index, record in enumerate(records) if not isinstance(record, Mapping)]
    if bad:
        raise fail(
            field,
            records[bad[0]],
            f"item(s) {bad[:10]} are not objects (first shown)",
            "Give each contact as a dict of fields.",
        )
    return [dict(record) for record in records]


def source_format(path: ObjectStoragePath, declared: str | None) -> str:
    """``jsonl`` or ``csv``: the declared format, else the one the file name says (``.gz`` allowed)."""
    if declared is not None:
        if declared not in SOURCE_FORMATS:
            raise fail("source_format", declared, f"is not one of {list(SOURCE_FORMATS)}", "Use one of them.")
        return declared
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise fail(
        "source",
        str(path),
        "has no .jsonl, .ndjson or .csv suffix (optionally .gz)",
        "Rename it or pass source_format='jsonl' or 'csv'.",
    )


def as_source(value: Any) -> ObjectStoragePath:
    """The source file as an ObjectStoragePath, checked to exist before anything is sent."""
    path = as_storage_path("source", value)
    if not path.exists():
        raise fail("source", value, "does not exist", "Check the path, or the upstream task that writes it.")
    return path


@contextmanager
def _open_text(path: ObjectStoragePath) -> Iterator[IO[str]]:
    raw = path.open("rb")  # type: ignore[no-untyped-call]
    try:
        binary: IO[bytes] = (
            gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            if path.name.endswith(".gz")
            else raw
        )
        # utf-8-sig drops the byte-order mark spreadsheet tools put at the start of a CSV.
        yield io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    finally:
        raw.close()


def _jsonl_rows(lines: Iterable[str], name: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail("source", name, f"line {number} is not JSON ({exc.msg})", "Fix the line.") from None
        if not isinstance(row, dict):
            raise fail("source", name, f"line {number} is {shown(row)}, not an object", "Fix the line.")
        yield row


def csv_row_to_contact(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row as a contact: empty cells dropped, ``tags`` split on ``;``, ``custom_fields.*`` nested.

    :param row: one ``csv.DictReader`` row.
    """
    contact: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None or cell is None or not str(cell).strip():
            continue
        column, text = column.strip(), str(cell).strip()
        if column.startswith(CUSTOM_FIELD_PREFIX):
            custom[column.removeprefix(CUSTOM_FIELD_PREFIX)] = text
        elif column == "tags":
            contact["tags"] = [tag.strip() for tag in text.split(CSV_TAG_SEPARATOR) if tag.strip()]
        else:
            contact[column] = text
    if custom:
        contact["custom_fields"] = custom
    return contact


def iter_source_rows(path: ObjectStoragePath, fmt: str) -> Iterator[dict[str, Any]]:
    """Stream the contacts of a JSONL or CSV file (gzip when the name ends in ``.gz``).

    :param path: the file.
    :param fmt: ``jsonl`` or ``csv``.
    """
    with _open_text(path) as text:
        if fmt == "jsonl":
            yield from _jsonl_rows(text, str(path))
        else:
            reader = csv.DictReader(text)
            if not reader.fieldnames:
                raise fail("source", str(path), "is an empty CSV (no header row)", "Give a header row.")
            for row in reader:
                yield csv_row_to_contact(row)


def encoded_size(row: Mapping[str, Any]) -> int:
    """Bytes the row takes in the request body (as the hook encodes it), plus its comma."""
    return len(json.dumps(row, separators=(",", ":"), default=str).encode()) + 1


def chunked(
    rows: Iterable[dict[str, Any]], max_rows: int, max_bytes: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """``(first_row_index, rows)`` chunks of at most ``max_rows`` rows and about ``max_bytes`` bytes.

    A single row larger than ``max_bytes`` still gets a chunk of its own (the API judges it).

    :param rows: the rows, in input order.
    :param max_rows: most rows per chunk.
    :param max_bytes: budget of encoded bytes per chunk.
    """
    chunk: list[dict[str, Any]] = []
    size = 0
    first = 0
    for index, row in enumerate(rows):
        row_size = encoded_size(row)
        if chunk and (len(chunk) >= max_rows or size + row_size > max_bytes):
            yield first, chunk
            chunk, size, first = [], 0, index
        chunk.append(row)
        size += row_size
    if chunk:
        yield first, chunk
