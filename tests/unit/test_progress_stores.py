"""The progress files beside ``results_destination``: what a retry reads without a task state store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow.compat import ObjectStoragePath
from votel_airflow.delivery import idempotency
from votel_airflow.delivery.idempotency import TaskProgress
from votel_airflow.delivery.progress_stores import (
    ResultsFileProgressStore,
    progress_folder,
    progress_path,
    progress_store,
)
from votel_airflow.destinations import as_storage_path


def _destination(tmp_path: Path) -> ObjectStoragePath:
    return as_storage_path("results_destination", str(tmp_path / "out" / "sms.json"))


def test_a_retry_of_the_same_task_instance_reads_the_progress_the_failed_try_wrote(tmp_path: Path) -> None:
    store = ResultsFileProgressStore(make_context(), _destination(tmp_path))
    first = TaskProgress(make_context(), "sms", store)
    first.record("+12125550001", "msg-1")
    first.flush()

    reread = ResultsFileProgressStore(make_context(), _destination(tmp_path))
    retry = TaskProgress(make_context(), "sms", reread)

    assert retry.durable
    assert retry.resumed == 1
    assert retry.done() == {"+12125550001": "msg-1"}


def test_another_run_writing_to_the_same_destination_starts_afresh(tmp_path: Path) -> None:
    store = ResultsFileProgressStore(make_context(), _destination(tmp_path))
    store.set("votel_send_sms", {"+12125550001": "msg-1"})
    tomorrow = make_context(ti=FakeTaskInstance(run_id="scheduled__2026-11-02T00:00:00+00:00"))

    assert ResultsFileProgressStore(tomorrow, _destination(tmp_path)).get("votel_send_sms") is None


def test_the_progress_files_are_hidden_beside_the_results_and_leave_no_temporary_file(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    ResultsFileProgressStore(make_context(), destination).set("votel_send_sms.part-0", {"a": "b"})

    assert str(progress_folder(destination)).endswith("/out/.sms.json.progress")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".sms.json.progress"]
    assert sorted(p.name for p in (tmp_path / "out" / ".sms.json.progress").iterdir()) == [
        "votel_send_sms.part-0.json"
    ]


def test_each_flush_writes_one_small_file_of_the_new_items_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "FLUSH_EVERY_SECONDS", 3600.0)
    store = ResultsFileProgressStore(make_context(), _destination(tmp_path))
    progress = TaskProgress(make_context(), "votel_send_sms", store)

    for i in range(5 * idempotency.FLUSH_EVERY_ITEMS):
        progress.record(f"+1212555{i:04d}", f"msg-{i}")

    files = sorted((tmp_path / "out" / ".sms.json.progress").iterdir())
    assert len(files) == 5
    final = len(json.dumps(progress.done()))
    assert store.bytes_written < 1.2 * final, (store.bytes_written, final)
    retry = TaskProgress(
        make_context(), "votel_send_sms", ResultsFileProgressStore(make_context(), _destination(tmp_path))
    )
    assert retry.done() == progress.done()


def test_a_progress_file_cut_short_reads_as_absent(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    store = ResultsFileProgressStore(make_context(), destination)
    first = TaskProgress(make_context(), "votel_send_sms", store)
    first.record("+12125550001", "msg-1")
    first.flush()
    first.record("+12125550002", "msg-2")
    first.flush()
    last = tmp_path / "out" / ".sms.json.progress" / "votel_send_sms.part-1.json"
    last.write_bytes(last.read_bytes()[:-7])

    retry = TaskProgress(
        make_context(), "votel_send_sms", ResultsFileProgressStore(make_context(), destination)
    )

    assert retry.done() == {"+12125550001": "msg-1"}


def test_the_single_progress_file_written_before_the_chunks_is_still_resumed(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    (tmp_path / "out").mkdir()
    # Exactly what the file store wrote before progress came in chunks.
    legacy = {"task_instance": "test_dag/test_task/manual__2026-11-01T00:00:00+00:00/-1",
              "progress": {"votel_send_sms": {"+12125550001": "msg-1"}}}  # fmt: skip
    progress_path(destination).write_text(json.dumps(legacy))

    retry = TaskProgress(
        make_context(), "votel_send_sms", ResultsFileProgressStore(make_context(), destination)
    )
    retry.record("+12125550002", "msg-2")
    retry.flush()

    assert retry.resumed == 1
    again = TaskProgress(
        make_context(), "votel_send_sms", ResultsFileProgressStore(make_context(), destination)
    )
    assert again.done() == {"+12125550001": "msg-1", "+12125550002": "msg-2"}


def test_the_task_state_store_wins_over_the_file_and_no_store_means_none(tmp_path: Path) -> None:
    state_store = FakeStateStore()

    assert progress_store(make_context(state_store=state_store), _destination(tmp_path)) is state_store
    assert isinstance(progress_store(make_context(), _destination(tmp_path)), ResultsFileProgressStore)
    assert progress_store(make_context(), None) is None


def test_a_successful_send_removes_its_progress_file(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    (tmp_path / "out").mkdir()
    progress_path(destination).write_text("{}")
    store = ResultsFileProgressStore(make_context(), destination)
    store.set("votel_send_sms.part-0", {"a": "b"})

    store.discard()

    assert not progress_path(destination).exists()
    assert not progress_folder(destination).exists()
