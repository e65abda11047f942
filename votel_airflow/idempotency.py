"""Exactly-once side effects: idempotency keys tied to the task instance, and durable progress.

A send's ``Idempotency-Key`` is derived from (dag, task, run, map index) and the recipient, so any
retry of the same task instance (a new try, a crashed worker, ``airflow tasks clear``-free reruns)
asks the server for the same effect again, which the server answers with the first response.
:class:`TaskProgress` lets a retry skip the work already done instead of re-asking for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from votel_airflow.compat import optional

if TYPE_CHECKING:
    from votel_airflow.progress_stores import ProgressStore

KEY_PREFIX = "af-"
# Progress is flushed in batches: one supervisor round-trip per item would dominate a bulk send.
FLUSH_EVERY_ITEMS = 100
FLUSH_EVERY_SECONDS = 2.0


def task_instance_identity(context: Mapping[str, Any]) -> str:
    """``dag/task/run/map_index`` of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    return f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{map_index}"


def idempotency_key(context: Mapping[str, Any], *parts: str) -> str:
    """A stable key for one side effect of this task instance (e.g. one recipient's SMS).

    :param context: the task's execution context.
    :param parts: what distinguishes this effect within the task (recipient, batch number, ...).
    """
    material = "\x1f".join((task_instance_identity(context), *parts))
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:40]


class TaskProgress:
    """Durable ``{item: result}`` progress for bulk work, kept in the task state store.

    ``store`` replaces the task state store where Airflow has none (before 3.3):
    :func:`~votel_airflow.progress_stores.progress_store` picks one. Without either, progress is
    kept in memory only; the idempotency keys still prevent a second effect there.

    :param context: the task's execution context.
    :param name: the store key, one per kind of work in a task.
    :param store: where progress survives a retry, when not the context's task state store.
    """

    def __init__(self, context: Mapping[str, Any], name: str, store: ProgressStore | None = None) -> None:
        self._store = store if store is not None else context.get("task_state_store")
        self._name = name
        self._done: dict[str, Any] = {}
        if self._store is not None:
            stored = self._store.get(name)
            if isinstance(stored, dict):
                self._done = dict(stored)
        self._resumed = len(self._done)
        self._unflushed = 0
        self._last_flush = time.monotonic()

    @property
    def durable(self) -> bool:
        """Whether progress survives a retry of the task."""
        return self._store is not None

    @property
    def resumed(self) -> int:
        """How many items a previous try had already finished."""
        return self._resumed

    def done(self) -> dict[str, Any]:
        """A copy of the finished items and their results."""
        return dict(self._done)

    def __contains__(self, item: object) -> bool:
        return item in self._done

    def record(self, item: str, result: Any) -> None:
        """Mark one item finished; flushed in batches, and always by :meth:`flush`."""
        self._done[item] = result
        self._unflushed += 1
        if self._unflushed >= FLUSH_EVERY_ITEMS or time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write progress to the store now (call it in ``finally``)."""
        if self._store is not None and self._unflushed:
            self._store.set(self._name, dict(self._done), retention=_never_expire())
        self._unflushed = 0
        self._last_flush = time.monotonic()


def _never_expire() -> timedelta | None:
    # Airflow before 3.3 has no task state store, and so no retention to give.
    never: timedelta | None = optional("NEVER_EXPIRE")
    return never
