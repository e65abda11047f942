"""Exactly-once side effects: idempotency keys tied to the task instance, and durable progress.

A send's ``Idempotency-Key`` is derived from (dag, task, run, map index) and the recipient, so any
retry of the same task instance (a new try, a crashed worker, ``airflow tasks clear``-free reruns)
asks the server for the same effect again, which the server answers with the first response.
:class:`TaskProgress` lets a retry skip the work already done instead of re-asking for it.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from votel_airflow.compat import optional

KEY_PREFIX = "af-"
# Progress is flushed in batches: one supervisor round-trip per item would dominate a bulk send.
FLUSH_EVERY_ITEMS = 100
FLUSH_EVERY_SECONDS = 2.0
#: Between a progress name and a chunk number in a chunk's key (``votel_send_sms.part-0``).
CHUNK_SEPARATOR = ".part-"
log = logging.getLogger(__name__)


class ProgressStore(Protocol):
    """The calls progress needs: the task state store's ``get`` and ``set``.

    Declared here, beside :class:`TaskProgress` that calls it, so the stores in
    :mod:`~votel_airflow.delivery.progress_stores` (which take the task instance's identity from
    here) implement it without the two modules importing each other.
    """

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None: ...


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


def stop_key() -> str:
    """An idempotency key for one stop (a cancel, a pause): it lets the hook retry this request, and
    only this one.

    Never derived from the path alone: a campaign paused, resumed and paused again within a day
    would find its second pause answered from the first one's cached response, and keep sending.
    """
    return f"votel-stop-{uuid.uuid4().hex}"


class TaskProgress:
    """Durable ``{item: result}`` progress for bulk work, kept in the task state store.

    Each flush appends one *chunk* holding only the items recorded since the previous flush, under
    its own key (``<name>.part-<n>``), so what a flush writes grows with the new work, not with all
    the work so far: a send to 100,000 people writes its progress about once in total instead of a
    thousand times over. A retry merges the chunks in order (a later value wins). Each chunk names
    the writer before it, so the chain stops at the first chunk that is missing, unreadable (a write
    cut short) or left over from an older try: what lies beyond was never confirmed as written, and
    its items are done again (under the same idempotency key) or, on a server that ignores the key,
    remain in the earlier state a write-ahead put them in (see :mod:`votel_airflow.delivery.ambiguity`).
    Progress that an earlier release wrote as one ``{item: result}`` value under ``name`` is read
    first, so a task retried across the upgrade resumes; a kind of progress no release wrote that
    way passes ``legacy=False`` and saves the read.

    ``store`` replaces the task state store where Airflow has none (before 3.3):
    :func:`~votel_airflow.delivery.progress_stores.progress_store` picks one. Without either, progress is
    kept in memory only; the idempotency keys still prevent a second effect there.

    :param context: the task's execution context.
    :param name: the store key, one per kind of work in a task.
    :param store: where progress survives a retry, when not the context's task state store.
    :param resume: False when no earlier run of the task instance can have written this progress
        (the caller knows it is the first): nothing is read, and the first flush writes chunk 0.
    :param legacy: False when no release wrote this progress as one value: that read is skipped.
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        name: str,
        store: ProgressStore | None = None,
        *,
        resume: bool = True,
        legacy: bool = True,
    ) -> None:
        self._store = store if store is not None else context.get("task_state_store")
        self._name = name
        self._done: dict[str, Any] = {}
        self._next_chunk = 0
        self._after = ""
        if self._store is not None and resume:
            self._done, self._next_chunk, self._after = _load(self._store, name, legacy=legacy)
        self._resumed = len(self._done)
        self._writer = uuid.uuid4().hex
        self._unflushed: dict[str, Any] = {}
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
        self._unflushed[item] = result
        if (
            len(self._unflushed) >= FLUSH_EVERY_ITEMS
            or time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write the items recorded since the last flush now, as one chunk (call it in ``finally``)."""
        if self._store is not None and self._unflushed:
            chunk = {
                "chunk": self._next_chunk,
                "writer": self._writer,
                "after": self._after,
                "count": len(self._unflushed),
                "items": self._unflushed,
            }
            # A write that raises leaves the items unflushed and the chunk number unused: the next
            # flush writes them again, under the same key.
            self._store.set(chunk_key(self._name, self._next_chunk), chunk, retention=_never_expire())
            self._next_chunk += 1
            self._after = self._writer
        self._unflushed = {}
        self._last_flush = time.monotonic()


def chunk_key(name: str, number: int) -> str:
    """The store key of chunk ``number`` of the progress ``name``."""
    return f"{name}{CHUNK_SEPARATOR}{number}"


def stored_progress(store: ProgressStore, name: str) -> dict[str, Any]:
    """Everything a retry would resume from: the progress ``name`` in ``store``, chunks merged."""
    return _load(store, name)[0]


def _load(store: ProgressStore, name: str, *, legacy: bool = True) -> tuple[dict[str, Any], int, str]:
    """The merged items, the number of the next chunk to write, and the writer of the last one."""
    done: dict[str, Any] = {}
    whole = store.get(name) if legacy else None
    if isinstance(whole, dict):
        done.update(whole)  # written whole by a release before the chunks
    number, after = 0, ""
    while True:
        chunk = store.get(chunk_key(name, number))
        if chunk is None:
            break
        items = _chunk_items(chunk, number, after)
        if items is None:
            log.warning(
                "Progress %s: chunk %d is incomplete or left over from an older try; resuming from the "
                "%d chunks before it (the items after them are done again, or stay in the state their "
                "write-ahead recorded)",
                name, number, number,
            )  # fmt: skip
            break
        done.update(items)
        after = chunk["writer"]
        number += 1
    return done, number, after


def _chunk_items(chunk: Any, number: int, after: str) -> dict[str, Any] | None:
    """A chunk's items when it is whole and follows the chunk before it; else None."""
    if not isinstance(chunk, dict):
        return None
    items = chunk.get("items")
    if (
        chunk.get("chunk") != number
        or chunk.get("after") != after
        or not isinstance(chunk.get("writer"), str)
        or not isinstance(items, dict)
        or chunk.get("count") != len(items)
    ):
        return None
    return items


def _never_expire() -> timedelta | None:
    # Airflow before 3.3 has no task state store, and so no retention to give.
    never: timedelta | None = optional("NEVER_EXPIRE")
    return never
