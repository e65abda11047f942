"""Write records page by page to an ObjectStoragePath, atomically.

On a file system the file is written under a hidden temporary name beside the destination and
moved into place only when every page is in, so a failed or killed run never leaves a partial file
at the destination, and readers never see one being written.

On an object store (S3, GCS) a "move" is a copy, so a temporary object would be visible to readers
for the whole write. There the file is uploaded straight to its key as a multipart upload that is
completed only when every page is in: the object appears whole, at once, or not at all, and a
failed write aborts its upload. (A SIGKILLed writer leaves an unfinished upload, invisible to
readers; a bucket lifecycle rule for incomplete multipart uploads removes it.)

:class:`AtomicFile` is that mechanism for any byte stream (the send results file uses it alone);
:class:`AtomicRecordWriter` puts the record formats on top of it.

A failure removes its temporary file; a SIGKILL cannot, and leaves it behind. The next successful
write of the same destination removes such leftovers: temporary files of that destination not
modified since the new write began, so a writer that is still writing keeps its file.

JSON Lines pages are encoded, compressed and written by one writer thread, one page behind the
caller: compression releases the GIL, so it overlaps the next page's request and parsing, and
the bounded queue keeps memory at a page or two whatever the row count. ``jsonl.gz`` is
compressed by ISA-L (``isal``): a standard gzip file, made four to ten times faster than zlib
makes it, which is what lets an extract keep pace with the API on a busy worker. Parquet is
written in two passes over a local spill file (:mod:`votel_airflow.parquet_sink`), so a field
first seen on a late page or a value whose type drifts is kept, never dropped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import fsspec

from votel_airflow.compat import Asset, ObjectStoragePath
from votel_airflow.hooks.pages import RecordPage, page_lines
from votel_airflow.parquet_sink import ParquetSink
from votel_airflow.validation import fail

if TYPE_CHECKING:
    import gzip

FORMATS = ("jsonl", "jsonl.gz", "parquet")
TMP_SUFFIX = ".tmp"
#: ISA-L level (0-3) of ``jsonl.gz``. On call logs, level 2 compresses a 310 KB page in 0.24 ms to
#: 9.0 % of its size, level 3 in 0.7 ms to 8.4 %; zlib's level 6 takes 3.2 ms for 7.5 %.
DEFAULT_COMPRESSLEVEL = 2
COMPRESSLEVELS = range(0, 4)
#: Pages waiting for the writer thread: one, so the caller fetches the next while one is written.
WRITE_QUEUE_PAGES = 1
#: Protocols whose files can be uploaded uncommitted and then committed or discarded as a whole.
COMMIT_ON_SUCCESS_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs"})
log = logging.getLogger(__name__)


def as_storage_path(field: str, destination: Any) -> ObjectStoragePath:
    """A local path (absolute) or any URL ObjectStoragePath accepts, as an ObjectStoragePath."""
    if isinstance(destination, ObjectStoragePath):
        return destination
    text = str(destination).strip() if destination is not None else ""
    if not text or text.endswith("/"):
        raise fail(
            field, destination, "must name a file", "Use e.g. '/data/calls.jsonl' or 's3://b/calls.jsonl'."
        )
    if "://" not in text:
        if not text.startswith("/"):
            raise fail(field, destination, "is a relative path", "Give an absolute path or a URL.")
        text = f"file://{text}"
    try:
        path = ObjectStoragePath(text)
        # universal_pathlib before 0.3 (Airflow 3.0, 3.1) accepts any scheme until first use.
        fsspec.get_filesystem_class(path.protocol)
    except Exception as exc:  # fsspec raises many types for an unknown protocol
        raise fail(
            field, destination, f"is not a storage URL ({exc})", "Use file://, s3://, gs://, ..."
        ) from None
    return path


def optional_storage_path(field: str, destination: Any) -> ObjectStoragePath | None:
    """:func:`as_storage_path` for an optional file (``results_destination``): None when unset."""
    return None if destination is None else as_storage_path(field, destination)


def with_destination_asset(destination: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """An operator's ``kwargs`` with a static file ``destination`` declared as its outlet Asset.

    A templated destination is known only when the task runs, and outlets the DAG gives win.
    """
    if isinstance(destination, str) and "{{" not in destination and "outlets" not in kwargs:
        return {**kwargs, "outlets": [Asset(str(as_storage_path("destination", destination)))]}
    return kwargs


class _WriterThread:
    """Writes byte chunks to a stream in a background thread, through a bounded queue.

    A failure in the thread is kept and raised in the caller's thread by the next :meth:`put` or
    by :meth:`finish`; the thread then drains the queue, so the caller never blocks on it.

    :param stream: where the chunks go (a gzip stream or the raw file).
    :param name: the thread's name, for stack dumps.
    """

    def __init__(self, stream: IO[bytes] | gzip.GzipFile, name: str) -> None:
        self._stream = stream
        # None is the stop sign.
        self._queue: queue.Queue[Sequence[Any] | None] = queue.Queue(maxsize=WRITE_QUEUE_PAGES)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            page = self._queue.get()
            if page is None:
                return
            if self.error is not None:
                continue  # failed already: drain, so put() never blocks on a full queue
            try:
                self._stream.write(page_lines(page))
            except BaseException as exc:  # re-raised in the caller's thread
                self.error = exc

    def put(self, page: Sequence[Any]) -> None:
        """Queue one page (see :func:`~votel_airflow.hooks.pages.page_lines`); raises the writer's
        error if it has failed."""
        self.raise_error()
        self._queue.put(page)

    def raise_error(self) -> None:
        """Raise the thread's failure, if any, in the calling thread."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Wait until every queued page is written (or the thread failed); does not raise."""
        self._queue.put(None)
        self._thread.join()


class AtomicFile:
    """A byte stream that appears at ``destination`` whole when it is finished, or not at all.

    Use it as a context manager (the stream is published when the block ends without an error)
    or call :meth:`open` and :meth:`finish` when other layers (compression, Parquet) must be
    closed in between. A successful write removes the temporary files killed writers of the same
    destination left (:func:`remove_stale_temps`).

    :param destination: the final file.
    """

    def __init__(self, destination: ObjectStoragePath) -> None:
        self.destination = destination
        self._tmp = destination.parent / f"{_tmp_prefix(destination)}{uuid.uuid4().hex}{TMP_SUFFIX}"
        self._commit_on_success = destination.protocol in COMMIT_ON_SUCCESS_PROTOCOLS
        self._started = 0.0
        self._raw: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        """Open the stream: an uncommitted upload on an object store, else a hidden temporary file."""
        self._started = time.time()
        if self._commit_on_success:
            # Uncommitted until finish() says so: nothing is visible at the key before then.
            self._raw = self.destination.fs.open(self.destination.path, "wb", autocommit=False)
        else:
            self.destination.parent.mkdir(parents=True, exist_ok=True)
            self._raw = self._tmp.open("wb")  # type: ignore[no-untyped-call]
        assert self._raw is not None
        return self._raw

    def finish(self, complete: bool) -> None:
        """Close the stream, then publish it when ``complete``, else drop what was written.

        :param complete: every byte is in and every layer above the stream closed cleanly.
        """
        published = False
        try:
            if self._raw is not None:
                self._raw.close()
            published = complete
        finally:
            # A failure while closing the file (a full disk) must not publish it either.
            if not published:
                self._discard()
            elif self._commit_on_success:
                self._raw.commit()  # type: ignore[union-attr]
            else:
                self._tmp.rename(self.destination)
                remove_stale_temps(self.destination, older_than=self._started)

    def __enter__(self) -> IO[bytes]:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(exc_type is None)

    def _discard(self) -> None:
        """Drop what was written: the uncommitted upload, or the temporary file."""
        if self._commit_on_success:
            if self._raw is not None:
                self._raw.discard()  # type: ignore[attr-defined]
        else:
            self._tmp.unlink(missing_ok=True)


class AtomicRecordWriter:
    """Context manager writing pages of records to ``destination`` in ``fmt``, atomically.

    :param destination: the final file.
    :param fmt: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param compresslevel: ISA-L compression level (0-3) of ``jsonl.gz``; higher is smaller and slower.
    """

    def __init__(
        self, destination: ObjectStoragePath, fmt: str, *, compresslevel: int = DEFAULT_COMPRESSLEVEL
    ) -> None:
        if fmt not in FORMATS:
            raise fail("format", fmt, f"is not one of {list(FORMATS)}", f"Use one of {list(FORMATS)}.")
        if compresslevel not in COMPRESSLEVELS:
            raise ValueError(f"compresslevel must be between 0 and 3 (ISA-L levels), got {compresslevel!r}")
        self.destination = destination
        self.fmt = fmt
        self.compresslevel = compresslevel
        self.records = 0
        self._file = AtomicFile(destination)
        self._raw: IO[bytes] | None = None
        self._text: IO[bytes] | gzip.GzipFile | None = None
        self._parquet: ParquetSink | None = None
        self._writer: _WriterThread | None = None

    def __enter__(self) -> AtomicRecordWriter:
        self._raw = self._file.open()
        try:
            if self.fmt == "parquet":
                self._parquet = ParquetSink(self._raw)
            elif self.fmt == "jsonl.gz":
                # mtime=0 and no file name (it would be the random temporary one) keep the bytes
                # identical across reruns of the same window.
                from isal import igzip

                self._text = igzip.GzipFile(  # type: ignore[no-untyped-call]
                    filename="", fileobj=self._raw, mode="wb", mtime=0, compresslevel=self.compresslevel
                )
            else:
                self._text = self._raw
            if self._text is not None:
                self._writer = _WriterThread(self._text, f"votel-writer-{self.destination.name}")
        except BaseException:
            # __exit__ does not run when __enter__ fails: drop the temporary file here.
            self._file.finish(complete=False)
            raise
        return self

    @property
    def columns(self) -> list[tuple[str, str]] | None:
        """``(name, type)`` of each column when the format declares them (Parquet), else None."""
        return self._parquet.columns() if self._parquet is not None else None

    def write_page(self, records: Sequence[Any]) -> None:
        """Append one page of records.

        JSON Lines get each record's own text when the page is a
        :class:`~votel_airflow.hooks.pages.RecordPage` (the server's bytes, no second encoding),
        else the record encoded compactly with sorted keys. Parquet reads the records.
        """
        if not records:
            return
        if self._parquet is not None:
            self._parquet.write(list(records))
        elif self._writer is not None:
            # Encoded in the writer thread too: the caller goes back to the network at once.
            self._writer.put(records if isinstance(records, RecordPage) else list(records))
        self.records += len(records)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        complete = False
        try:
            if self._writer is not None:
                # Always joined, even after a failure: the thread must not write to a closed file.
                self._writer.finish()
            # After a failure the file is discarded, so an error while closing it says nothing new.
            with contextlib.suppress(Exception) if exc_type else contextlib.nullcontext():
                if self._writer is not None:
                    self._writer.raise_error()
                if self._parquet is not None:
                    if exc_type:
                        # After a failure the spilled pages are dropped, not written out.
                        self._parquet.discard()
                    else:
                        self._parquet.close()
                if self._text is not None and self._text is not self._raw:
                    self._text.close()
            complete = exc_type is None
        finally:
            self._file.finish(complete)


def _tmp_prefix(destination: ObjectStoragePath) -> str:
    return f".{destination.name}."


def _is_uuid_hex(token: str) -> bool:
    return len(token) == 32 and all(ch in "0123456789abcdef" for ch in token)


def remove_stale_temps(destination: ObjectStoragePath, *, older_than: float) -> list[str]:
    """Delete the temporary files of ``destination`` left by killed writers; the names removed.

    Only files named like this module's temporary files *of this destination* and not modified
    since ``older_than`` (a POSIX time) go: a writer still writing touches its file as pages go
    in. Clean-up is best effort: a storage that cannot list or stat leaves the files, and never
    fails the write that already succeeded.

    :param destination: the final file whose leftovers to remove.
    :param older_than: keep files modified at or after this time (the new write's start).
    """
    prefix = _tmp_prefix(destination)
    removed: list[str] = []
    try:
        siblings = list(destination.parent.iterdir())
    except Exception:  # fsspec raises many types; the published file is fine either way
        return removed
    for sibling in siblings:
        name = sibling.name
        token = name[len(prefix) : -len(TMP_SUFFIX)]
        # The exact shape (prefix, 32 hex digits, suffix) keeps "calls.jsonl" from claiming the
        # temporary files of "calls.jsonl.gz" beside it.
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX) and _is_uuid_hex(token)):
            continue
        try:
            if sibling.stat().st_mtime >= older_than:
                continue
            sibling.unlink(missing_ok=True)
        except Exception as exc:
            log.warning("Could not remove the stale temporary file %s: %s", sibling, type(exc).__name__)
            continue
        removed.append(name)
    if removed:
        log.info("Removed %d stale temporary file(s) of %s left by a killed run", len(removed), destination)
    return removed
