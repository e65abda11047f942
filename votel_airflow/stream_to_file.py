"""The one way an operator writes a file: pages in, the atomic writer, a small result out.

Every operator that leaves a file (the extracts, the list and report writers, the generic API
operator, the contact export, the send results file) goes through here, so each gets the same
guarantees: the file appears whole or not at all (:mod:`votel_airflow.destinations`), temporary
files of killed runs are cleaned up, memory holds a page or two whatever the row count, and a
paged source is read ahead, the next page requested while this one is written.

What comes back is a :class:`WrittenFile`: the URI and row count an XCom manifest carries, and
the datasets OpenLineage reports (:mod:`votel_airflow.lineage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from votel_airflow.destinations import AtomicFile, AtomicRecordWriter
from votel_airflow.lineage import Lineage, api_dataset, storage_dataset

if TYPE_CHECKING:
    from votel_airflow.compat import ObjectStoragePath
    from votel_airflow.hooks.pages import RecordPage
    from votel_airflow.hooks.votel import VotelHook


class WrittenFile:
    """What a write left at its destination: where, how many records, which columns.

    :param uri: the destination's URI.
    :param records: records written.
    :param columns: ``(name, type)`` of each column when the format declares them (Parquet).
    """

    # A plain class: operator modules import this one at DAG parse time.
    __slots__ = ("columns", "records", "uri")

    def __init__(self, uri: str, records: int, columns: list[tuple[str, str]] | None = None) -> None:
        self.uri = uri
        self.records = records
        self.columns = columns

    def manifest(self, **fields: Any) -> dict[str, Any]:
        """The XCom manifest: ``uri`` and ``records`` first, then ``fields`` in the order given."""
        return {"uri": self.uri, "records": self.records, **fields}

    def lineage(self, base_url: str, source: str) -> Lineage:
        """The run's lineage: the API dataset ``source`` of ``base_url`` read, this file written."""
        return Lineage(
            [api_dataset(base_url, source)],
            [storage_dataset(self.uri, rows=self.records, columns=self.columns)],
        )

    def __repr__(self) -> str:
        return f"WrittenFile({self.uri!r}, records={self.records})"


def write_pages(
    destination: ObjectStoragePath,
    fmt: str,
    pages: Iterable[Sequence[Any]],
    *,
    check: Callable[[int], None] | None = None,
) -> WrittenFile:
    """Write every page to ``destination`` in ``fmt``, atomically.

    :param destination: the final file.
    :param fmt: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param pages: the pages, each a list of records or a
        :class:`~votel_airflow.hooks.pages.RecordPage` (written as the server's own JSON text).
    :param check: called with the record count once every page is in, before the file is
        published; an error it raises leaves nothing at the destination (a short download).
    """
    source = iter(pages)
    try:
        with AtomicRecordWriter(destination, fmt) as writer:
            for page in source:
                writer.write_page(page)
            if check is not None:
                check(writer.records)
    finally:
        # A failed write stops the source now (requests read ahead, an open download), not
        # when the traceback that holds it is collected.
        close = getattr(source, "close", None)
        if close is not None:
            close()
    return WrittenFile(str(destination), writer.records, writer.columns)


def endpoint_pages(
    hook: VotelHook,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int,
    raw: bool = False,
) -> Iterator[Sequence[Any]]:
    """The pages of a list endpoint, read ahead: the next is requested while this one is written.

    :param hook: the hook to read with.
    :param path: a list endpoint.
    :param params: filters; ``limit``/``offset`` are managed by the hook.
    :param page_size: records per request, 1 to 500.
    :param raw: yield :class:`~votel_airflow.hooks.pages.RecordPage` objects (each record's JSON
        as the server sent it, written without re-encoding) instead of parsed records, which
        JSON Lines write with sorted keys.
    """
    if raw:
        pages: Iterator[list[Any] | RecordPage] = hook.iter_raw_pages(
            path, params=params, page_size=page_size, read_ahead=True
        )
    else:
        pages = hook.iter_pages(path, params=params, page_size=page_size, read_ahead=True)
    yield from pages


def write_endpoint(
    hook: VotelHook,
    path: str,
    destination: ObjectStoragePath,
    fmt: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int,
    raw: bool = False,
) -> WrittenFile:
    """Stream a whole list endpoint to ``destination``, pages read ahead (see :func:`endpoint_pages`)."""
    return write_pages(
        destination, fmt, endpoint_pages(hook, path, params=params, page_size=page_size, raw=raw)
    )


def write_document(destination: ObjectStoragePath, payload: bytes) -> str:
    """Write one document (e.g. a JSON object) to ``destination`` atomically; its URI.

    The same publication as the record files: a temporary name then a rename (an uncommitted
    upload on an object store), and the temporary files of killed writers removed.
    """
    with AtomicFile(destination) as stream:
        stream.write(payload)
    return str(destination)
