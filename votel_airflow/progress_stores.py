"""Where a bulk send's progress survives a retry: the task state store, or a file beside the results.

:class:`~votel_airflow.idempotency.TaskProgress` talks to one small interface,
:class:`ProgressStore` (``get`` and ``set``, the task state store's own shape). Airflow 3.3 and later
hand every task a task state store in its context; Airflow 3.0 to 3.2 have none, so there the send
keeps its progress in :class:`ResultsFileProgressStore`, a JSON file beside ``results_destination``
(the same storage the user already chose for the send's results, so it is as durable and as private
as they are), removed once the send succeeds. Without either, a retry still texts nobody twice
(idempotency keys) but asks the API again for every recipient; the send says so in its log at start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from votel_airflow.idempotency import task_instance_identity

if TYPE_CHECKING:
    from votel_airflow.compat import ObjectStoragePath


class ProgressStore(Protocol):
    """The calls progress needs: the task state store's ``get`` and ``set``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None: ...


def progress_path(destination: ObjectStoragePath) -> ObjectStoragePath:
    """The progress file of a results file: hidden, beside it, on the same storage."""
    return destination.parent / f".{destination.name}.progress.json"


class ResultsFileProgressStore:
    """Progress as one JSON file beside the results file, tagged with the task instance.

    A retry of the same task instance (same DAG, task, run and map index) reads what the failed try
    wrote; any other task instance writing to the same destination (tomorrow's run of a DAG with a
    fixed path) finds another tag and starts afresh. Each write goes to a temporary name first and is
    then renamed, so a kill mid-write leaves the previous progress whole.

    :param context: the task's execution context (names the task instance).
    :param destination: the send's ``results_destination``.
    """

    def __init__(self, context: Mapping[str, Any], destination: ObjectStoragePath) -> None:
        self.path = progress_path(destination)
        self._owner = task_instance_identity(context)
        self._values: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        with self.path.open("rb") as stream:  # type: ignore[no-untyped-call]
            stored = json.loads(stream.read() or b"{}")
        if not isinstance(stored, dict) or stored.get("task_instance") != self._owner:
            return {}
        values = stored.get("progress")
        return dict(values) if isinstance(values, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        # ``retention`` is the task state store's; the file lives as long as the results beside it.
        self._values[key] = value
        document = {"task_instance": self._owner, "progress": self._values}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.parent / f"{self.path.name}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as stream:  # type: ignore[no-untyped-call]
                stream.write(json.dumps(document, separators=(",", ":")).encode())
            tmp.rename(self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the file once the send succeeded: its results file is the record from then on."""
        self.path.unlink(missing_ok=True)


def progress_store(context: Mapping[str, Any], destination: ObjectStoragePath | None) -> ProgressStore | None:
    """The most durable store this task has: the task state store, else the results file, else None.

    :param context: the task's execution context.
    :param destination: the send's ``results_destination``, if any.
    """
    store = context.get("task_state_store")
    if store is not None:
        return store  # type: ignore[no-any-return]
    if destination is not None:
        return ResultsFileProgressStore(context, destination)
    return None
