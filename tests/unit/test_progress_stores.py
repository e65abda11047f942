"""The progress file beside ``results_destination``: what a retry reads where there is no task state store."""

from __future__ import annotations

from pathlib import Path

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow.compat import ObjectStoragePath
from votel_airflow.destinations import as_storage_path
from votel_airflow.idempotency import TaskProgress
from votel_airflow.progress_stores import ResultsFileProgressStore, progress_path, progress_store


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


def test_the_progress_file_is_hidden_beside_the_results_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    ResultsFileProgressStore(make_context(), destination).set("votel_send_sms", {"a": "b"})

    assert str(progress_path(destination)).endswith("/out/.sms.json.progress.json")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".sms.json.progress.json"]


def test_the_task_state_store_wins_over_the_file_and_no_store_means_none(tmp_path: Path) -> None:
    state_store = FakeStateStore()

    assert progress_store(make_context(state_store=state_store), _destination(tmp_path)) is state_store
    assert isinstance(progress_store(make_context(), _destination(tmp_path)), ResultsFileProgressStore)
    assert progress_store(make_context(), None) is None


def test_a_successful_send_removes_its_progress_file(tmp_path: Path) -> None:
    destination = _destination(tmp_path)
    store = ResultsFileProgressStore(make_context(), destination)
    store.set("votel_send_sms", {"a": "b"})

    store.discard()

    assert not progress_path(destination).exists()
