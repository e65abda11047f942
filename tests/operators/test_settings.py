"""Settings and read-only lists against the sandbox: ListPhoneNumbersOperator and VotelListOperator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.exceptions import VotelInputError
from votel_airflow.operators.settings import RESOURCES, ListPhoneNumbersOperator, VotelListOperator


def api_list(sandbox: Any, api_key: str, path: str) -> list[dict[str, Any]]:
    """Every record of a list endpoint, read directly (not through the provider)."""
    records: list[dict[str, Any]] = []
    while True:
        response = requests.get(
            f"{sandbox.base_url}{path}",
            headers={"X-API-Key": api_key},
            params={"limit": 500, "offset": len(records)},
            timeout=30,
        )
        response.raise_for_status()
        page = response.json()
        records.extend(page)
        if len(page) < 500:
            return records


def test_list_phone_numbers_returns_every_number_with_capabilities(
    votel_sandbox, votel_api_key, votel_connection
):
    numbers = ListPhoneNumbersOperator(task_id="numbers").execute(make_context())

    assert numbers == api_list(votel_sandbox, votel_api_key, "/settings/phone-numbers")
    assert numbers
    assert all(n["number"].startswith("+") and "capabilities" in n for n in numbers)


def test_list_phone_numbers_keeps_only_numbers_with_the_capability(
    votel_sandbox, votel_api_key, votel_connection
):
    everything = api_list(votel_sandbox, votel_api_key, "/settings/phone-numbers")

    sms = ListPhoneNumbersOperator(task_id="numbers", capability="sms").execute(make_context())

    assert sms == [n for n in everything if "sms" in n["capabilities"]]
    assert 0 < len(sms) < len(everything), "the seed has a voice-only number"


def test_list_phone_numbers_rejects_an_unknown_capability_at_parse_time():
    with pytest.raises(
        VotelInputError, match=r"capability='sns': is not one of \['mms', 'sms', 'voice', 'whatsapp'\]"
    ):
        ListPhoneNumbersOperator(task_id="numbers", capability="sns")


def test_list_phone_numbers_rejects_a_rendered_unknown_capability_before_any_request(
    votel_sandbox, votel_api_key, votel_connection
):
    operator = ListPhoneNumbersOperator(task_id="numbers", capability="{{ params.cap }}")
    operator.capability = "fax"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match="capability='fax'"):
        operator.execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_list_operator_returns_the_whole_list_of_each_resource(
    resource: str, votel_sandbox, votel_api_key, votel_connection
):
    records = VotelListOperator(task_id="list", resource=resource, page_size=2).execute(make_context())

    assert records == api_list(votel_sandbox, votel_api_key, RESOURCES[resource])


def test_list_operator_accepts_the_api_spelling_of_a_resource(votel_sandbox, votel_api_key, votel_connection):
    operator = VotelListOperator(task_id="list", resource="Sub-accounts")

    assert operator.resource == "sub_accounts"
    assert operator.execute(make_context()) == api_list(
        votel_sandbox, votel_api_key, "/settings/sub-accounts"
    )


def test_list_operator_rejects_an_unknown_resource_naming_it():
    with pytest.raises(VotelInputError, match=r"resource='userz': is not one of \[.*'users'"):
        VotelListOperator(task_id="list", resource="userz")


def test_list_operator_refuses_to_push_more_than_max_records_to_xcom(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    operator = VotelListOperator(task_id="list", resource="tts_voices", max_records=2, page_size=2)

    with pytest.raises(VotelInputError, match=r"max_records=2: is exceeded.*Pass destination="):
        operator.execute(make_context())


def test_list_operator_streams_to_a_destination_and_returns_the_manifest(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    destination = tmp_path / "lists" / "voices.jsonl.gz"

    manifest = VotelListOperator(
        task_id="list", resource="tts_voices", destination=str(destination), format="jsonl.gz"
    ).execute(make_context())

    import gzip

    rows = [json.loads(line) for line in gzip.decompress(destination.read_bytes()).splitlines()]
    assert rows == api_list(votel_sandbox, votel_api_key, "/tts-voices")
    assert manifest == {
        "uri": f"file://{destination}",
        "records": len(rows),
        "format": "jsonl.gz",
        "resource": "tts_voices",
    }


def test_list_operator_rejects_a_relative_destination_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, votel_sandbox, votel_api_key, votel_connection
):
    monkeypatch.chdir(tmp_path)
    operator = VotelListOperator(task_id="list", resource="users", destination="{{ params.out }}")
    operator.destination = "out/users.jsonl"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"destination='out/users.jsonl': is a relative path"):
        operator.execute(make_context())

    assert list(tmp_path.iterdir()) == []
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_settings_operators_render_templates_and_push_results_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    out = tmp_path / "out"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.settings import ListPhoneNumbersOperator, VotelListOperator

        with DAG("settings_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"cap": "sms", "what": "quick-replies", "out": {str(out)!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            numbers = ListPhoneNumbersOperator(task_id="numbers", capability="{{{{ params.cap }}}}")
            replies = VotelListOperator(
                task_id="replies", resource="{{{{ params.what }}}}",
                destination="{{{{ params.out }}}}/{{{{ ds }}}}/replies.jsonl",
            )

            @task
            def keep(numbers, manifest):
                import json
                open({str(tmp_path / "xcom.json")!r}, "w").write(json.dumps([numbers, manifest]))

            keep(numbers.output, replies.output)
        """,
    )

    dagrun = run_dag(dags, "settings_dag")

    assert dagrun_task_states(dagrun) == {"numbers": "success", "replies": "success", "keep": "success"}
    numbers, manifest = json.loads((tmp_path / "xcom.json").read_text())
    everything = api_list(votel_sandbox, votel_api_key, "/settings/phone-numbers")
    assert numbers == [n for n in everything if "sms" in n["capabilities"]]
    [written] = list(out.glob("*/replies.jsonl"))
    assert manifest["uri"] == f"file://{written}"
    assert manifest["resource"] == "quick_replies"
    assert manifest["records"] == len(api_list(votel_sandbox, votel_api_key, "/quick-replies")) > 0
