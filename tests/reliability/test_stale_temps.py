"""A SIGKILLed extraction leaves a hidden temporary file; the next successful write removes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import stale_temp_file
from votel_airflow.compat import ObjectStoragePath
from votel_airflow.destinations import AtomicRecordWriter, as_storage_path


def write_one_page_then_fail(destination: ObjectStoragePath) -> None:
    with AtomicRecordWriter(destination, "jsonl") as writer:
        writer.write_page([{"id": "c-1"}])
        raise RuntimeError("page 3 failed")


def test_successful_write_removes_the_temporary_files_killed_writers_left(tmp_path: Path) -> None:
    stale = stale_temp_file(tmp_path, "calls.jsonl", age_seconds=60)

    with AtomicRecordWriter(as_storage_path("destination", str(tmp_path / "calls.jsonl")), "jsonl") as writer:
        writer.write_page([{"id": "c-1"}])

    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.jsonl"]


def test_write_keeps_a_temporary_file_still_being_written_and_those_of_other_destinations(
    tmp_path: Path,
) -> None:
    destination = as_storage_path("destination", str(tmp_path / "calls.jsonl"))
    with AtomicRecordWriter(destination, "jsonl") as writer:
        # Touched after this write began: another writer of the same file, still alive.
        live = stale_temp_file(tmp_path, "calls.jsonl", age_seconds=-5)
        other = stale_temp_file(tmp_path, "calls.jsonl.gz", age_seconds=60)
        unrelated = tmp_path / ".calls.jsonl.notes.tmp"
        unrelated.write_text("mine")
        os.utime(unrelated, (0, 0))
        writer.write_page([{"id": "c-1"}])

    assert live.exists()
    assert other.exists()
    assert unrelated.exists()


def test_failed_write_removes_only_its_own_temporary_file(tmp_path: Path) -> None:
    stale = stale_temp_file(tmp_path, "calls.jsonl", age_seconds=60)
    destination = as_storage_path("destination", str(tmp_path / "calls.jsonl"))

    with pytest.raises(RuntimeError, match="page 3 failed"):
        write_one_page_then_fail(destination)

    # Only a complete write may judge others' leftovers stale; a failed one publishes nothing.
    assert sorted(p.name for p in tmp_path.iterdir()) == [stale.name]
