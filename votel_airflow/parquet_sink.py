"""Parquet without loss: every column any page has, each value kept, memory flat.

A Parquet file has one schema, fixed before the first row group is written, while an API's
records drift: a field appears on page 40, a count that was always whole turns up as ``2.5``, a
code that was a number arrives as text. So the file is written in two passes:

1. each page becomes an Arrow table with its own inferred types, appended to a local spill file
   (Arrow IPC, one stream per page) while the file's schema is widened to cover it;
2. when every page is in, the spilled pages are read back one at a time, cast to the widened
   schema (a column a page lacks is null there) and written as row groups.

Widening never drops a value: null gives way to any type, a whole number to a float, and any
other mix becomes text, each value as its JSON text (``true``, ``17``, ``2.5``), the text that
can always represent it. A whole number beyond 2^53 has no exact double, so a column that held
one is not widened to a float when fractions turn up: it becomes text too (``9007199254740993``,
``2.5``), decided while the pages are read, so the file is never refused once the extract is in.
Text rather than a decimal: a decimal column needs one scale for every value, and a float's exact
decimal form may need hundreds of digits. Memory holds a page or a row group at a time, never the extract; the
spill file, on the worker's local temporary directory, holds about the extract's Arrow size.
"""

from __future__ import annotations

import json
import logging
import tempfile
from typing import IO, Any

from votel_airflow.validation import fail

#: The largest magnitude up to which every whole number has an exact double (IEEE 754).
EXACT_IN_DOUBLE = 2**53
#: Rows per Parquet row group: big enough for good compression and fast scans, small enough
#: that the second pass holds a few megabytes whatever the extract's size.
ROW_GROUP_ROWS = 10_000
log = logging.getLogger(__name__)


def _import_pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise fail(
            "format", "parquet", "needs pyarrow", "pip install 'airflow-provider-votel[parquet]'."
        ) from None
    return pa, pq


def _flatten_nested(record: dict[str, Any]) -> dict[str, Any]:
    # Nested objects vary by row; as JSON text they keep one stable column type.
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in record.items()}


def _json_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True)


class SchemaWidener:
    """The narrowest Arrow schema that holds every page seen so far, columns in first-seen order.

    :param pa: the ``pyarrow`` module (imported lazily by the caller).
    """

    def __init__(self, pa: Any) -> None:
        self._pa = pa
        self.types: dict[str, Any] = {}
        #: Columns whose type changed to text after another type was seen: named once in the log.
        self.to_text: set[str] = set()
        #: Whole-number columns that held a value with no exact double (beyond 2^53).
        self.beyond_double: set[str] = set()

    def widen(self, name: str, new: Any, *, beyond_double: bool = False) -> None:
        """Make column ``name`` able to hold values of Arrow type ``new`` too.

        :param name: the column.
        :param new: the Arrow type a page has for it.
        :param beyond_double: the page's whole numbers include one beyond 2^53 (see :func:`beyond_double`).
        """
        pa = self._pa
        if beyond_double:
            self.beyond_double.add(name)
        old = self.types.get(name)
        if old is None or old == new or pa.types.is_null(new):
            self.types.setdefault(name, new)
            return
        if pa.types.is_null(old):
            self.types[name] = new
        elif {str(old), str(new)} == {"int64", "double"} and name not in self.beyond_double:
            self.types[name] = pa.float64()
        elif not pa.types.is_string(old) or not pa.types.is_string(new):
            self._to_text(name)

    def _to_text(self, name: str) -> None:
        self.types[name] = self._pa.string()
        self.to_text.add(name)

    def schema(self) -> Any:
        """The final schema; a column that only ever held nulls is typed text."""
        pa = self._pa
        return pa.schema(
            [pa.field(n, pa.string() if pa.types.is_null(t) else t) for n, t in self.types.items()]
        )


def beyond_double(pa: Any, column: Any) -> bool:
    """Whether an integer column holds a value with no exact double (magnitude beyond 2^53)."""
    import pyarrow.compute as pc

    if not pa.types.is_integer(column.type) or column.null_count == len(column):
        return False
    bounds = pc.min_max(column).as_py()
    return bool(max(abs(bounds["min"]), abs(bounds["max"])) > EXACT_IN_DOUBLE)


def page_table(pa: Any, records: list[dict[str, Any]]) -> Any:
    """One page as an Arrow table; a column mixing types within the page becomes JSON text."""
    rows = [_flatten_nested(record) for record in records]
    columns: dict[str, None] = dict.fromkeys(rows[0]) if rows else {}
    first = columns.keys()
    if not all(row.keys() == first for row in rows):
        # Arrow takes the columns from the first row alone: name every key of the page.
        for row in rows:
            columns.update(dict.fromkeys(row))
    try:
        return _from_rows(pa, rows, columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    # Rare: a column mixing types in one page, or an integer beyond 64 bits. Those columns (only
    # those) are turned to text here; the rest keep the types Arrow infers.
    mixed = []
    for name in columns:
        try:
            pa.array([row.get(name) for row in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            mixed.append(name)
    for row in rows:
        for name in mixed:
            if name in row:
                row[name] = _json_text(row[name])
    return _from_rows(pa, rows, columns)


def _from_rows(pa: Any, rows: list[dict[str, Any]], columns: dict[str, None]) -> Any:
    if rows and len(columns) == len(rows[0]):
        return pa.Table.from_pylist(rows)
    return pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in columns})


def conform(pa: Any, table: Any, schema: Any) -> Any:
    """``table`` cast to ``schema``: missing columns null, ints as floats, other mixes as text."""
    import pyarrow.compute as pc

    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif pa.types.is_string(field.type) and pa.types.is_floating(column.type):
            # Arrow writes 2.0 as "2"; the JSON text of the value is "2.0".
            columns.append(pa.array([_json_text(v) for v in column.to_pylist()], pa.string()))
        else:
            # bool -> "true"/"false" and int -> "17" are exactly the values' JSON text.
            columns.append(pc.cast(column, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class ParquetSink:
    """Parquet via pyarrow (an optional extra), in two passes over a local spill file.

    :param stream: where the finished Parquet file goes (the destination's temporary file).
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._pa, self._pq = _import_pyarrow()
        self._stream = stream
        self._spill: IO[bytes] | None = None
        # (offset, length) of each page's IPC stream in the spill file.
        self._pages: list[tuple[int, int]] = []
        self._widener = SchemaWidener(self._pa)
        self.rows = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        """Spill one page and widen the schema to hold it."""
        pa = self._pa
        table = page_table(pa, records)
        for field in table.schema:
            big = beyond_double(pa, table.column(field.name))
            self._widener.widen(field.name, field.type, beyond_double=big)
        if self._spill is None:
            # Unlinked at once: nothing is left behind, even when the worker is killed.
            self._spill = tempfile.TemporaryFile(prefix="votel-parquet-")  # noqa: SIM115
        start = self._spill.tell()
        with pa.ipc.new_stream(self._spill, table.schema) as ipc:
            ipc.write_table(table)
        self._pages.append((start, self._spill.tell() - start))
        self.rows += table.num_rows

    def close(self) -> None:
        """Write the Parquet file from the spilled pages, then drop the spill file."""
        pa, pq = self._pa, self._pq
        try:
            if self._spill is None:
                # No record at all: still a readable Parquet file (no columns, no rows).
                pq.write_table(pa.table({}), self._stream)
                return
            schema = self._widener.schema()
            if self._widener.to_text:
                log.warning(
                    "Parquet: column(s) %s held values of different types; written as text (JSON)",
                    sorted(self._widener.to_text),
                )
            with pq.ParquetWriter(self._stream, schema) as writer:
                batch: list[Any] = []
                batched = 0
                for table in self._spilled_pages():
                    batch.append(conform(pa, table, schema))
                    batched += table.num_rows
                    if batched >= ROW_GROUP_ROWS:
                        writer.write_table(pa.concat_tables(batch), row_group_size=batched)
                        batch, batched = [], 0
                if batch:
                    writer.write_table(pa.concat_tables(batch), row_group_size=batched)
        finally:
            self.discard()

    def columns(self) -> list[tuple[str, str]]:
        """``(name, type)`` of each column of the file, e.g. ``("duration_seconds", "int64")``."""
        return [(f.name, str(f.type)) for f in self._widener.schema()]

    def _spilled_pages(self) -> Any:
        pa = self._pa
        assert self._spill is not None
        for start, length in self._pages:
            self._spill.seek(start)
            yield pa.ipc.open_stream(self._spill.read(length)).read_all()

    def discard(self) -> None:
        """Drop the spill file without writing anything (the extract failed)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._pages = []
