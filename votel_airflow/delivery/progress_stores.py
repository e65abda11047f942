"""Where a bulk send's progress survives a retry: the task state store, or files beside the results.

:class:`~votel_airflow.delivery.idempotency.TaskProgress` talks to one small interface,
:class:`~votel_airflow.delivery.idempotency.ProgressStore` (``get`` and ``set``, the task state
store's own shape), and appends one small chunk per flush under a key of its own. Airflow 3.3
and later hand every task a task state store in its context; Airflow 3.0 to 3.2 have none, so
there the send keeps its progress in
:class:`ResultsFileProgressStore`: one small file per key, in a hidden folder beside
``results_destination`` (the same storage the user already chose for the send's results, so it is
as durable and as private as they are), removed once the send succeeds. Without either, a retry
on a server that honours ``Idempotency-Key`` still texts nobody twice (the server answers a
repeated key with its first response) but asks the API again for every recipient; the send says so
in its log at start. On a connection whose server ignores the key (``server_idempotency`` false)
nothing but durable progress keeps a retry from sending again, so there a side effect without a
durable store is refused before its first request (:func:`require_durable_write_ahead`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from votel_airflow.delivery.idempotency import ProgressStore, task_instance_identity
from votel_airflow.exceptions import VotelConfigurationError

if TYPE_CHECKING:
    from votel_airflow.compat import ObjectStoragePath

log = logging.getLogger(__name__)


def progress_path(destination: ObjectStoragePath) -> ObjectStoragePath:
    """The single progress file written before progress came in chunks (still read, for a retry)."""
    return destination.parent / f".{destination.name}.progress.json"


def progress_folder(destination: ObjectStoragePath) -> ObjectStoragePath:
    """The folder of progress files of a results file: hidden, beside it, on the same storage."""
    return destination.parent / f".{destination.name}.progress"


class ResultsFileProgressStore:
    """Progress as one small JSON file per key, in a hidden folder beside the results file.

    Each value is written to a temporary name, synced to disk where the storage allows it, then
    renamed, so a kill mid-write leaves either the whole file or none; a file that is unreadable
    anyway (cut short by the storage) reads as absent. Every file is tagged with the task instance:
    a retry of the same task instance (same DAG, task, run and map index) reads what the failed try
    wrote; any other task instance writing to the same destination (tomorrow's run of a DAG with a
    fixed path) finds another tag and starts afresh. The single progress file written before progress came
    in chunks (:func:`progress_path`) is read too, so a send retried across the upgrade resumes.

    :param context: the task's execution context (names the task instance).
    :param destination: the send's ``results_destination``.
    """

    def __init__(self, context: Mapping[str, Any], destination: ObjectStoragePath) -> None:
        self.path = progress_path(destination)
        self.folder = progress_folder(destination)
        self._owner = task_instance_identity(context)
        self._legacy: dict[str, Any] = self._read_legacy()
        #: Bytes written by :meth:`set` so far (what a benchmark compares with the progress size).
        self.bytes_written = 0

    def _read_legacy(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        stored = self._read_json(self.path)
        if not isinstance(stored, dict) or stored.get("task_instance") != self._owner:
            return {}
        values = stored.get("progress")
        return dict(values) if isinstance(values, dict) else {}

    def _file(self, key: str) -> ObjectStoragePath:
        return self.folder / f"{key}.json"

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._legacy:
            return self._legacy[key]
        stored = self._read_json(self._file(key))
        if not isinstance(stored, dict) or stored.get("task_instance") != self._owner:
            return default
        return stored.get("value", default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        # ``retention`` is the task state store's; the files live as long as the results beside them.
        data = json.dumps({"task_instance": self._owner, "value": value}, separators=(",", ":")).encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as stream:  # type: ignore[no-untyped-call]
                stream.write(data)
                _sync(stream)
            tmp.rename(self._file(key))
        finally:
            tmp.unlink(missing_ok=True)
        self.bytes_written += len(data)

    def discard(self) -> None:
        """Remove the progress once the send succeeded: its results file is the record from then on."""
        self.path.unlink(missing_ok=True)
        if self.folder.exists():
            self.folder.rmdir(recursive=True)

    @staticmethod
    def _read_json(path: ObjectStoragePath) -> Any:
        try:
            with path.open("rb") as stream:  # type: ignore[no-untyped-call]
                raw = stream.read()
        except FileNotFoundError:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("Progress file %s is incomplete (a write cut short); it is ignored", path)
            return None


def _sync(stream: Any) -> None:
    """Make a local file's bytes durable before it is renamed into place (object stores need not)."""
    stream.flush()
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return
    os.fsync(descriptor)


def progress_store(context: Mapping[str, Any], destination: ObjectStoragePath | None) -> ProgressStore | None:
    """The most durable store this task has: the task state store, else the results files, else None.

    :param context: the task's execution context.
    :param destination: the send's ``results_destination``, if any.
    """
    store = context.get("task_state_store")
    if store is not None:
        return store  # type: ignore[no-any-return]
    if destination is not None:
        return ResultsFileProgressStore(context, destination)
    return None


def require_durable_write_ahead(store: ProgressStore | None, what: str, field: str) -> None:
    """Refuse a side effect on a server that ignores ``Idempotency-Key`` when no store is durable.

    There the write-ahead record (*pending* before a request leaves) is the only thing that keeps
    a retried task from reaching someone again; kept in memory, it dies with the try. Call it
    before the first request, only when ``server_idempotency`` is false.

    :param store: what :func:`progress_store` found (None: nothing durable).
    :param what: the side effect, for the message (``"sms"``, ``"call +1415..."``).
    :param field: the operator argument that gives a durable store on Airflow 3.0-3.2.
    """
    if store is not None:
        return
    raise VotelConfigurationError(
        f"{what}: the connection says the server ignores Idempotency-Key (server_idempotency=false), "
        "and this task has no task state store (Airflow gives one from 3.3), so the record written "
        "before each request would live in memory only and a retry of this task could reach people twice. "
        f"Nothing was sent. Set {field} (a path or URL on storage every worker reaches: the progress "
        "is kept in files beside it), or run on Airflow 3.3 or later; if the server does honour "
        "Idempotency-Key, set server_idempotency to true on the connection instead."
    )
