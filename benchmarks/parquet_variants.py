"""The Parquet benchmark's variants, each alone in a fresh child process (see ``child.py``).

- ``jsonl_gz``: ``CallLogExtractOperator`` to ``jsonl.gz``: the baseline every extract is held to;
- ``parquet``: the same extract to Parquet (two passes over a spill file, nothing dropped);
- ``parquet_first_page``: the Parquet writer as it was before (schema fixed by the first page,
  later fields dropped), put back in place for this process only: what losslessness costs.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

FORMATS = {"jsonl_gz": "jsonl.gz", "parquet": "parquet", "parquet_first_page": "parquet"}


class FirstPageSchemaSink:
    """The Parquet writer before: one row group per page, the first page's columns only."""

    def __init__(self, stream: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq, self._stream = pa, pq, stream
        self._writer: Any = None
        self._schema: Any = None

    def write(self, records: list[dict[str, Any]]) -> None:
        pa = self._pa
        rows = [
            {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in r.items()}
            for r in records
        ]
        if self._schema is None:
            inferred = pa.Table.from_pylist(rows).schema
            fields = [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in inferred]
            self._schema = pa.schema(fields)
            self._writer = self._pq.ParquetWriter(self._stream, self._schema)
        names = set(self._schema.names)
        rows = [{k: v for k, v in row.items() if k in names} for row in rows]
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self._schema))

    def columns(self) -> list[tuple[str, str]]:
        return [] if self._schema is None else [(f.name, str(f.type)) for f in self._schema]

    def close(self) -> None:
        self._writer.close()

    def discard(self) -> None:
        pass


def prepare_extract() -> None:
    # What the writers import on first use: the timed window is the extraction alone.
    import isal.igzip  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import requests  # noqa: F401

    from votel_airflow.operators.activity import CallLogExtractOperator  # noqa: F401


def extract(variant: str, since: str, until: str, destination: str, page_size: int) -> dict[str, Any]:
    """One extract of ``[since, until)`` in ``variant``'s format and writer."""
    from benchmarks.common import make_context
    from votel_airflow import destinations
    from votel_airflow.operators.activity import CallLogExtractOperator

    if variant == "parquet_first_page":
        destinations.ParquetSink = FirstPageSchemaSink  # type: ignore[misc,assignment]
    op = CallLogExtractOperator(
        task_id="extract", destination=destination, format=FORMATS[variant], page_size=page_size
    )
    started = time.perf_counter()
    manifest = op.execute(make_context(since, until))
    seconds = time.perf_counter() - started
    size = 0
    with open(destination, "rb") as written:
        size = written.seek(0, 2)
    return {"rows": manifest["records"], "seconds": seconds, "bytes": size}
