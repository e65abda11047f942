"""Idempotency keys tied to the task instance, and progress that survives a retry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow import idempotency
from votel_airflow.idempotency import TaskProgress, idempotency_key, task_instance_identity


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
    assert len(store.values["sms"]) == idempotency.FLUSH_EVERY_ITEMS


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

    assert store.values == {"sms": {"a": 1}}
    assert store.writes == 1


def test_stored_progress_is_a_snapshot_not_a_live_view() -> None:
    store = FakeStateStore()
    progress = TaskProgress(make_context(state_store=store), "sms")
    progress.record("a", 1)
    progress.flush()
    progress.record("b", 2)

    assert store.values["sms"] == {"a": 1}


def test_progress_without_a_store_lives_in_memory() -> None:
    progress = TaskProgress(make_context(), "sms")
    progress.record("a", 1)
    progress.flush()
    assert not progress.durable
    assert progress.done() == {"a": 1}
