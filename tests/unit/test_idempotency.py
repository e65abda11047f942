"""Idempotency keys tied to the task instance, and progress that survives a retry."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow.delivery import idempotency
from votel_airflow.delivery.idempotency import (
    TaskProgress,
    chunk_key,
    idempotency_key,
    stored_progress,
    task_instance_identity,
)


def _ctx(**ti: Any) -> dict[str, Any]:
    return make_context(ti=FakeTaskInstance(**ti))


def test_key_is_stable_for_the_same_task_instance_and_parts() -> None:
    first = idempotency_key(_ctx(try_number=1), "+14155552671")
    retry = idempotency_key(_ctx(try_number=2), "+14155552671")
    assert first == retry
    assert first.startswith("af-")
    assert len(first) == 43


@pytest.mark.parametrize(
    "change",
    [{"run_id": "scheduled__2026-11-02"}, {"map_index": 3}, {"task_id": "other"}, {"dag_id": "other"}],
)
def test_key_differs_by_run_map_index_task_and_dag(change: dict[str, Any]) -> None:
    assert idempotency_key(_ctx(), "+14155552671") != idempotency_key(_ctx(**change), "+14155552671")


def test_key_differs_by_recipient() -> None:
    assert idempotency_key(_ctx(), "+14155552671") != idempotency_key(_ctx(), "+14155552672")


def test_parts_cannot_run_together() -> None:
    assert idempotency_key(_ctx(), "ab", "c") != idempotency_key(_ctx(), "a", "bc")


def test_missing_map_index_is_the_unmapped_index() -> None:
    assert task_instance_identity(_ctx(map_index=None)) == task_instance_identity(_ctx(map_index=-1))


def test_progress_resumes_what_a_previous_try_recorded() -> None:
    store = FakeStateStore()
    first = TaskProgress(make_context(state_store=store), "sms")
    first.record("+14155552671", {"id": "m-1"})
    first.flush()

    second = TaskProgress(make_context(state_store=store), "sms")

    assert second.durable
    assert second.resumed == 1
    assert "+14155552671" in second
    assert "+14155552672" not in second
    assert second.done() == {"+14155552671": {"id": "m-1"}}


def test_progress_flushes_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "FLUSH_EVERY_SECONDS", 3600.0)
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")

    for i in range(idempotency.FLUSH_EVERY_ITEMS - 1):
        progress.record(f"r{i}", i)
    assert store.writes == 0
    progress.record("last", 0)
    assert store.writes == 1
    assert len(stored_progress(store, "sms")) == idempotency.FLUSH_EVERY_ITEMS


def test_progress_flushes_after_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(idempotency, "time", SimpleNamespace(monotonic=lambda: now[0]))
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")

    now[0] = 100.5
    progress.record("a", 1)
    assert store.writes == 0
    now[0] = 100.0 + idempotency.FLUSH_EVERY_SECONDS
    progress.record("b", 2)
    assert store.writes == 1


def test_flush_writes_now_and_only_when_something_changed() -> None:
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")
    progress.flush()
    assert store.writes == 0

    progress.record("a", 1)
    progress.flush()

    assert stored_progress(store, "sms") == {"a": 1}
    assert store.writes == 1


def test_stored_progress_is_a_snapshot_not_a_live_view() -> None:
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")
    progress.record("a", 1)
    progress.flush()
    progress.record("b", 2)

    assert stored_progress(store, "sms") == {"a": 1}


def test_each_flush_writes_only_the_items_recorded_since_the_last_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(idempotency, "FLUSH_EVERY_SECONDS", 3600.0)
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")

    for i in range(10 * idempotency.FLUSH_EVERY_ITEMS):
        progress.record(f"+1212555{i:04d}", f"msg-{i}")

    assert store.writes == 10
    assert [len(v["items"]) for v in store.values.values()] == [idempotency.FLUSH_EVERY_ITEMS] * 10
    final = len(json.dumps(stored_progress(store, "sms")))
    written = sum(len(json.dumps(v)) for v in store.values.values())
    assert written < 1.1 * final, (written, final)


def test_a_later_value_of_an_item_wins_over_an_earlier_chunk() -> None:
    store = FakeStateStore()
    first = TaskProgress(make_context(state_store=store), "sms")
    first.record("a", {"pending": True, "at": 1.0})
    first.flush()
    first.record("a", "msg-1")
    first.flush()

    assert TaskProgress(make_context(state_store=store), "sms").done() == {"a": "msg-1"}


def test_progress_written_whole_before_the_chunks_is_resumed_and_extended() -> None:
    # What the previous release stored: the whole map as one value under the progress name.
    store = FakeStateStore()
    store.values["sms"] = {"a": "msg-1", "b": {"ambiguous": "timeout", "at": 1.0}}

    retry = TaskProgress(make_context(state_store=store), "sms")
    assert retry.resumed == 2
    retry.record("c", "msg-3")
    retry.flush()

    assert store.values["sms"] == {"a": "msg-1", "b": {"ambiguous": "timeout", "at": 1.0}}
    assert TaskProgress(make_context(state_store=store), "sms").done() == {
        "a": "msg-1",
        "b": {"ambiguous": "timeout", "at": 1.0},
        "c": "msg-3",
    }


def test_a_retry_continues_the_chain_where_the_failed_try_stopped() -> None:
    store = FakeStateStore()
    first = TaskProgress(make_context(state_store=store), "sms")
    first.record("a", 1)
    first.flush()
    second = TaskProgress(make_context(state_store=store), "sms")
    second.record("b", 2)
    second.flush()

    assert sorted(store.values) == [chunk_key("sms", 0), chunk_key("sms", 1)]
    assert TaskProgress(make_context(state_store=store), "sms").done() == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "damage",
    [
        lambda chunk: "not a chunk",
        lambda chunk: {**chunk, "items": {**chunk["items"], "extra": 9}},  # count no longer matches
        lambda chunk: {k: v for k, v in chunk.items() if k != "items"},
        lambda chunk: {**chunk, "chunk": 7},
    ],
    ids=["not-a-mapping", "count-mismatch", "no-items", "wrong-number"],
)
def test_a_damaged_last_chunk_is_ignored_and_written_over(damage: Any) -> None:
    store = FakeStateStore()
    first = TaskProgress(make_context(state_store=store), "sms")
    first.record("a", 1)
    first.flush()
    first.record("b", 2)
    first.flush()
    store.values[chunk_key("sms", 1)] = damage(store.values[chunk_key("sms", 1)])

    retry = TaskProgress(make_context(state_store=store), "sms")
    assert retry.done() == {"a": 1}
    retry.record("c", 3)
    retry.flush()

    assert TaskProgress(make_context(state_store=store), "sms").done() == {"a": 1, "c": 3}


def test_a_chunk_left_over_from_an_older_try_beyond_a_rewritten_one_is_not_merged() -> None:
    # Try 1 wrote chunks 0-2; chunk 1 was lost; try 2 wrote its own chunk 1 and died. Try 1's
    # chunk 2 follows try 1's chunk 1, not try 2's: the chain ends before it.
    store = FakeStateStore()
    first = TaskProgress(make_context(state_store=store), "sms")
    for item in ("a", "b", "c"):
        first.record(item, {"pending": True, "at": 1.0})
        first.flush()
    del store.values[chunk_key("sms", 1)]
    second = TaskProgress(make_context(state_store=store), "sms")
    second.record("b", "msg-2")
    second.flush()

    assert TaskProgress(make_context(state_store=store), "sms").done() == {
        "a": {"pending": True, "at": 1.0},
        "b": "msg-2",
    }


def test_a_failed_write_keeps_its_items_for_the_next_flush() -> None:
    class FlakyStore(FakeStateStore):
        fail = True

        def set(self, key: str, value: Any, *, retention: Any = None) -> None:
            if self.fail:
                self.fail = False
                raise ConnectionError("supervisor gone")
            super().set(key, value, retention=retention)

    store = FlakyStore()
    progress = TaskProgress(make_context(state_store=store), "sms")
    progress.record("a", 1)
    with pytest.raises(ConnectionError):
        progress.flush()
    progress.record("b", 2)
    progress.flush()

    assert list(store.values) == [chunk_key("sms", 0)]
    assert stored_progress(store, "sms") == {"a": 1, "b": 2}


def test_progress_without_a_store_lives_in_memory() -> None:
    progress = TaskProgress(make_context(), "sms")
    progress.record("a", 1)
    progress.flush()
    assert not progress.durable
    assert progress.done() == {"a": 1}
