"""VotelApiOperator against the sandbox: any method and path, safe POST retries, streamed lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import FakeTaskInstance, dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.exceptions import VotelInputError, VotelNotFoundError
from votel_airflow.operators.generic import VotelApiOperator


def api_get(sandbox: Any, api_key: str, path: str, **params: Any) -> Any:
    response = requests.get(
        f"{sandbox.base_url}{path}", headers={"X-API-Key": api_key}, params=params, timeout=30
    )
    response.raise_for_status()
    return response.json()


def test_get_returns_the_parsed_answer(votel_sandbox, votel_api_key, votel_connection):
    agents = VotelApiOperator(task_id="api", path="/agents").execute(make_context())

    assert agents == api_get(votel_sandbox, votel_api_key, "/agents")
    assert agents
    assert {"id", "name", "enabled"} <= agents[0].keys()


def test_path_params_are_filled_and_query_params_sent(votel_sandbox, votel_api_key, votel_connection):
    contact = api_get(votel_sandbox, votel_api_key, "/contacts", limit=1)[0]

    got = VotelApiOperator(
        task_id="api", path="/contacts/{contact_id}", path_params={"contact_id": contact["id"]}
    ).execute(make_context())
    vips = VotelApiOperator(task_id="api", path="/contacts", query_params={"tag": "vip", "limit": 3}).execute(
        make_context()
    )

    assert got == contact
    assert len(vips) == 3
    assert all("vip" in c["tags"] for c in vips)


def test_a_path_param_cannot_change_the_route(votel_sandbox, votel_api_key, monkeypatch: pytest.MonkeyPatch):
    # No retries: the answer is what matters here, and a wrong one should fail fast.
    conn = {"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_ONCE", json.dumps({**conn, "extra": {"max_retries": 0}}))
    operator = VotelApiOperator(
        task_id="api",
        path="/contacts/{contact_id}",
        path_params={"contact_id": "../agents"},
        votel_conn_id="votel_once",
    )

    # Percent-encoded, "../agents" stays inside the contact route (the server may answer that it is
    # an unknown contact or an unknown path) instead of reaching GET /agents, which would succeed.
    with pytest.raises(VotelNotFoundError, match=r"^404 Not Found on GET /contacts/\.\.%2Fagents: "):
        operator.execute(make_context())


def test_a_post_is_sent_once_when_the_task_instance_runs_again(
    votel_sandbox, votel_api_key, votel_connection
):
    operator = VotelApiOperator(
        task_id="api", method="POST", path="/communication/sms", json={"to": "+14155550123", "body": "Hi"}
    )
    context = make_context()

    first = operator.execute(context)
    second = operator.execute(context)  # a retry of the same task instance

    assert second == first
    [record] = votel_sandbox.admin.records(votel_api_key, "sms")
    assert record["id"] == first["id"]
    assert record["idempotency_key"].startswith("af-")


def test_idempotency_key_none_sends_every_time(votel_sandbox, votel_api_key, votel_connection):
    operator = VotelApiOperator(
        task_id="api",
        method="POST",
        path="/communication/sms",
        json={"to": "+14155550124", "body": "Hi"},
        idempotency_key=None,
    )

    operator.execute(make_context())
    operator.execute(make_context())

    records = votel_sandbox.admin.records(votel_api_key, "sms")
    assert len(records) == 2
    assert all(r["idempotency_key"] is None for r in records)


def test_different_task_instances_get_different_keys(votel_sandbox, votel_api_key, votel_connection):
    operator = VotelApiOperator(
        task_id="api", method="POST", path="/communication/sms", json={"to": "+14155550125", "body": "Hi"}
    )

    operator.execute(make_context())
    operator.execute(make_context(ti=FakeTaskInstance(run_id="scheduled__2026-11-02T00:00:00+00:00")))

    keys = {r["idempotency_key"] for r in votel_sandbox.admin.records(votel_api_key, "sms")}
    assert len(keys) == 2


def test_paginate_streams_every_record_to_the_destination(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    expected = api_get(votel_sandbox, votel_api_key, "/contacts", limit=500)
    destination = tmp_path / "contacts.jsonl"

    manifest = VotelApiOperator(
        task_id="api", path="/contacts", paginate=True, destination=str(destination), page_size=37
    ).execute(make_context())

    rows = [json.loads(line) for line in destination.read_text().splitlines()]
    assert rows == expected
    assert len(rows) > 37
    assert manifest == {
        "uri": f"file://{destination}",
        "records": len(rows),
        "format": "jsonl",
        "path": "/contacts",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "contacts"}, r"path='contacts': must be a string starting with '/'"),
        ({"path": "https://evil.example/api/agents"}, r"path='https://evil.example/api/agents': must be"),
        ({"path": "/agents", "method": "FETCH"}, r"method='FETCH': is not one of"),
        ({"path": "/contacts/{contact_id}"}, r"path_params=None: do not fill '/contacts/\{contact_id\}'"),
        ({"path": "/agents", "json": {"a": 1}}, r"json=\{'a': 1\}: cannot be sent with GET"),
        ({"path": "/agents", "paginate": True}, r"destination=None: is required with paginate=True"),
        (
            {"path": "/agents", "method": "POST", "paginate": True, "destination": "/tmp/x.jsonl"},
            r"paginate=True: needs method='GET'",
        ),
    ],
)
def test_bad_arguments_fail_at_parse_time_naming_field_and_value(kwargs: dict[str, Any], message: str):
    with pytest.raises(VotelInputError, match=message):
        VotelApiOperator(task_id="api", **kwargs)


def test_a_rendered_bad_path_fails_before_any_request_or_file(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    operator = VotelApiOperator(
        task_id="api", path="{{ params.path }}", paginate=True, destination=str(tmp_path / "out.jsonl")
    )
    operator.path = "/contacts?tag=vip"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"path='/contacts\?tag=vip': must be a bare API path"):
        operator.execute(make_context())

    assert list(tmp_path.iterdir()) == []
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_every_templated_field_renders_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    contact = api_get(votel_sandbox, votel_api_key, "/contacts", limit=1)[0]
    out = tmp_path / "out"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.generic import VotelApiOperator

        with DAG("api_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"cid": {contact["id"]!r}, "tag": "vip", "out": {str(out)!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            one = VotelApiOperator(
                task_id="one", path="/contacts/{{contact_id}}",
                path_params={{"contact_id": "{{{{ params.cid }}}}"}},
            )
            sms = VotelApiOperator(
                task_id="sms", method="POST", path="/communication/{{{{ 'sms' }}}}",
                json={{"to": "+14155550126", "body": "Hello {{{{ params.tag }}}}"}},
                idempotency_key="campaign-{{{{ ds_nodash }}}}",
            )
            vips = VotelApiOperator(
                task_id="vips", path="/contacts", query_params={{"tag": "{{{{ params.tag }}}}"}},
                paginate=True, destination="{{{{ params.out }}}}/vips.jsonl",
            )

            @task
            def keep(one, sms, vips):
                import json
                open({str(tmp_path / "xcom.json")!r}, "w").write(json.dumps([one, sms, vips]))

            keep(one.output, sms.output, vips.output)
        """,
    )

    dagrun = run_dag(dags, "api_dag")

    assert dagrun_task_states(dagrun) == {
        "one": "success",
        "sms": "success",
        "vips": "success",
        "keep": "success",
    }
    one, sms, vips = json.loads((tmp_path / "xcom.json").read_text())
    assert one == contact
    [record] = votel_sandbox.admin.records(votel_api_key, "sms")
    assert record["body"] == "Hello vip"
    assert record["idempotency_key"].startswith("campaign-")
    assert record["idempotency_key"] != "campaign-"
    assert sms["id"] == record["id"]
    rows = [json.loads(line) for line in (out / "vips.jsonl").read_text().splitlines()]
    assert (
        vips["records"]
        == len(rows)
        == len(api_get(votel_sandbox, votel_api_key, "/contacts", tag="vip", limit=500))
    )
    assert all("vip" in row["tags"] for row in rows)
