"""XCom results stay small whatever the input: the first ids, exact counts, the rest in a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from votel_airflow.delivery.xcom_results import MAX_IDS_IN_XCOM, capped_lists
from votel_airflow.destinations import as_storage_path
from votel_airflow.exceptions import VotelInputError
from votel_airflow.sensors.workflows import contact_ids_from


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


def test_lists_keep_their_first_ids_and_their_exact_counts() -> None:
    result = capped_lists({"enrolled": _ids("c", MAX_IDS_IN_XCOM + 1), "not_found": ["x"]}, None)

    assert result["enrolled"] == _ids("c", MAX_IDS_IN_XCOM)
    assert result["enrolled_count"] == MAX_IDS_IN_XCOM + 1
    assert result["not_found"] == ["x"]
    assert result["not_found_count"] == 1
    assert result["truncated"] is True
    assert result["results_uri"] is None


def test_lists_at_the_cap_are_whole_and_not_truncated() -> None:
    result = capped_lists({"moved": _ids("c", MAX_IDS_IN_XCOM)}, None)

    assert result["moved_count"] == len(result["moved"]) == MAX_IDS_IN_XCOM
    assert result["truncated"] is False


def test_the_results_file_holds_every_list_in_full_and_no_temporary_file(tmp_path: Path) -> None:
    lists = {"completed": _ids("t", 2500), "not_found": []}
    destination = as_storage_path("results_destination", str(tmp_path / "out" / "done.json"))

    result = capped_lists(lists, destination)

    assert result["results_uri"] == str(destination)
    assert json.loads((tmp_path / "out" / "done.json").read_text()) == lists
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["done.json"]


def test_the_enrollment_sensor_reads_every_id_of_a_cut_result_from_its_file(tmp_path: Path) -> None:
    enrolled, already = _ids("e", 1500), _ids("a", 20)
    destination = as_storage_path("results_destination", str(tmp_path / "enrolled.json"))
    result = capped_lists({"enrolled": enrolled, "already_enrolled": already, "not_found": []}, destination)

    assert contact_ids_from(result) == enrolled + already


def test_the_enrollment_sensor_refuses_a_cut_result_without_a_file() -> None:
    result = capped_lists({"enrolled": _ids("e", 1500), "already_enrolled": [], "not_found": []}, None)

    with pytest.raises(VotelInputError, match=r"contact_ids=.*1500 contacts.*results_destination"):
        contact_ids_from(result)


def test_the_enrollment_sensor_takes_a_whole_result_as_it_is() -> None:
    result = capped_lists({"enrolled": ["a"], "already_enrolled": ["b"], "not_found": ["c"]}, None)

    assert contact_ids_from(result) == ["a", "b"]
