"""Workflow operators against the sandbox over HTTP: batched idempotent enrollment, triggers, campaigns."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import FakeStateStore, dagrun_task_states, link_of, make_context, run_dag, write_dag
from votel_airflow import endpoints
from votel_airflow.defaults import SKIP_REASONS
from votel_airflow.delivery.idempotency import stored_progress
from votel_airflow.delivery.xcom_results import MAX_IDS_IN_XCOM
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.workflows import (
    EnrollContactOperator,
    SetWorkflowVariableOperator,
    StartCampaignOperator,
    TriggerWorkflowOperator,
    VotelContactsNotFoundError,
    batch_digest,
)


@pytest.fixture
def workflow_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.WORKFLOWS)[0]["id"])


@pytest.fixture
def campaign_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.CAMPAIGNS)[0]["id"])


def contact_ids() -> list[str]:
    return [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS)]


def import_contacts(count: int) -> None:
    """Add ``count`` contacts through the bulk import job and wait for it."""
    hook = VotelHook()
    rows = [{"first_name": f"Lead {i}", "phone": f"+1415558{i:04d}"} for i in range(count)]
    job = hook.request("POST", endpoints.CONTACT_IMPORTS, json={"contacts": rows, "match_on": "phone"})
    for _ in range(200):
        job = hook.get(endpoints.path(endpoints.CONTACT_IMPORT, import_id=job["id"]))
        if job["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "completed", job


def test_enrolling_1234_ids_with_unknown_and_already_enrolled_ones_gives_the_exact_merged_result(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    import_contacts(900)
    known = contact_ids()
    unknown = [str(uuid.uuid4()) for _ in range(1234 - len(known))]
    pre_enrolled = known[::7]
    path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow_id)
    VotelHook().request("POST", path, json={"contact_ids": pre_enrolled})
    # Duplicates in the input are enrolled once and reported once.
    given = known + unknown + known[:10]

    result = EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=given).execute(
        make_context()
    )

    assert len(set(known) | set(unknown)) == 1234
    enrolled = sorted(set(known) - set(pre_enrolled))
    assert result == {
        "enrolled": enrolled,
        "enrolled_count": len(enrolled),
        "already_enrolled": sorted(pre_enrolled),
        "already_enrolled_count": len(pre_enrolled),
        "not_found": sorted(unknown),
        "not_found_count": len(unknown),
        "truncated": False,
        "results_uri": None,
        # The outreach policy's fields: every input counted, nobody kept out.
        "requested": len(given),
        "duplicates": 10,
        "skipped": dict.fromkeys(SKIP_REASONS, 0),
        "skipped_recipients": {"opted_out": [], "suppressed": []},
    }
    records = votel_sandbox.admin.records(votel_api_key, "enrollment")
    assert sorted(r["contact_id"] for r in records) == sorted(known)


def test_the_xcom_result_keeps_the_first_ids_and_the_counts_and_the_file_holds_every_id(
    votel_sandbox: Any, workflow_id: str, tmp_path: Path
) -> None:
    unknown = sorted(str(uuid.uuid4()) for _ in range(MAX_IDS_IN_XCOM + 234))
    destination = tmp_path / "out" / "enrollment.json"

    result = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=unknown, results_destination=str(destination)
    ).execute(make_context())

    assert result["not_found"] == unknown[:MAX_IDS_IN_XCOM]
    assert result["not_found_count"] == len(unknown)
    assert result["enrolled"] == []
    assert result["enrolled_count"] == 0
    assert result["truncated"] is True
    assert result["results_uri"].endswith("/out/enrollment.json")
    assert json.loads(destination.read_text()) == {
        "enrolled": [],
        "already_enrolled": [],
        "not_found": unknown,
    }
    # 1,234 ids made a 45 KB result before; now it is 1,000 ids (40 bytes each) and a few fields.
    assert len(json.dumps(result)) < 40 * MAX_IDS_IN_XCOM + 500


def test_batches_carry_content_derived_idempotency_keys(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    known = sorted(contact_ids())[:7]

    EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=known, batch_size=3).execute(
        make_context()
    )

    keys_by_contact = {
        r["contact_id"]: r["idempotency_key"]
        for r in votel_sandbox.admin.records(votel_api_key, "enrollment")
    }
    batches = [known[0:3], known[3:6], known[6:7]]
    assert [len({keys_by_contact[c] for c in batch}) for batch in batches] == [1, 1, 1]
    assert len(set(keys_by_contact.values())) == 3
    assert batch_digest(batches[0]) != batch_digest(batches[1])


def test_a_retry_in_another_order_replays_the_same_batches_and_result(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    ids = contact_ids()[:40]
    context = make_context()
    first = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=ids, batch_size=15
    ).execute(context)

    second = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=list(reversed(ids)), batch_size=15
    ).execute(context)

    # Served from the server's idempotency cache: still "enrolled", not "already_enrolled".
    assert second == first
    assert len(first["enrolled"]) == 40
    assert len(votel_sandbox.admin.records(votel_api_key, "enrollment")) == 40


def test_a_retry_with_the_task_state_store_skips_finished_batches(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    store = FakeStateStore()
    operator = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids()[:30], batch_size=10
    )
    first = operator.execute(make_context(state_store=store))
    votel_sandbox.admin.reset_stats()

    second = operator.execute(make_context(state_store=store))

    assert second == first
    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert len(stored_progress(store, f"votel_enroll_{workflow_id}")) == 3


def test_fail_on_not_found_fails_listing_unknown_ids_after_enrolling_the_known_ones(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    known = contact_ids()[:5]
    unknown = ["no-such-contact-1", "no-such-contact-2"]

    with pytest.raises(VotelContactsNotFoundError) as info:
        EnrollContactOperator(
            task_id="enroll", workflow_id=workflow_id, contact_ids=known + unknown, fail_on_not_found=True
        ).execute(make_context())

    assert "2 of 7 contacts do not exist" in str(info.value)
    assert all(contact in str(info.value) for contact in unknown)
    assert sorted(
        r["contact_id"] for r in votel_sandbox.admin.records(votel_api_key, "enrollment")
    ) == sorted(known)


def test_enroll_with_a_bad_contact_list_sends_nothing(votel_sandbox: Any, workflow_id: str) -> None:
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError) as info:
        EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=["ok", ""]).execute(
            make_context()
        )

    assert info.value.field == "contact_ids"
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_enroll_links_to_the_workflow(workflow_id: str) -> None:
    operator = EnrollContactOperator(task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids()[:1])

    operator.execute(make_context(task=operator))

    assert link_of(operator).endswith(f"/workflows/{workflow_id}")


def test_trigger_fires_once_per_task_instance(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    context = make_context()
    operator = TriggerWorkflowOperator(task_id="fire", workflow_id=workflow_id, payload={"order": 42})

    first = operator.execute(context)
    second = operator.execute(context)

    records = votel_sandbox.admin.records(votel_api_key, "trigger")
    assert len(records) == 1
    assert first == second
    assert first["payload"] == {"order": 42}


def test_trigger_refuses_a_payload_that_is_not_an_object(
    votel_sandbox: Any, votel_api_key: str, workflow_id: str
) -> None:
    with pytest.raises(VotelInputError) as info:
        TriggerWorkflowOperator(task_id="fire", workflow_id=workflow_id, payload=[1, 2]).execute(
            make_context()
        )

    assert info.value.field == "payload"
    assert votel_sandbox.admin.records(votel_api_key, "trigger") == []


def test_set_workflow_variable_puts_the_value(votel_connection: str) -> None:
    answer = SetWorkflowVariableOperator(
        task_id="var", name="discount_code", value={"code": "SPRING"}
    ).execute(make_context())

    stored = {v["name"]: v["value"] for v in VotelHook().paginate(endpoints.WORKFLOW_VARIABLES)}
    assert answer["value"] == {"code": "SPRING"}
    assert stored["discount_code"] == {"code": "SPRING"}


def test_start_campaign_twice_is_one_start(campaign_id: str) -> None:
    first = StartCampaignOperator(task_id="start", campaign_id=campaign_id).execute(make_context())

    second = StartCampaignOperator(task_id="start", campaign_id=campaign_id).execute(make_context())

    assert first["status"] == "running"
    assert second["status"] in ("running", "completed")
    assert second["id"] == campaign_id


def test_start_campaign_waits_for_completion_in_the_worker(campaign_id: str) -> None:
    operator = StartCampaignOperator(
        task_id="start", campaign_id=campaign_id, wait_for_completion=True, poke_interval=0.1,
        deferrable=False,
    )  # fmt: skip

    result = operator.execute(make_context(task=operator))

    assert result["status"] == "completed"
    assert result["stats"]["sent"] == result["stats"]["recipients"]
    assert link_of(operator).endswith(f"/campaigns/{campaign_id}")


def test_start_campaign_of_an_unknown_id_fails_clearly(votel_connection: str) -> None:
    from votel_airflow.exceptions import VotelNotFoundError

    with pytest.raises(VotelNotFoundError, match="Campaign"):
        StartCampaignOperator(task_id="start", campaign_id="no-such-campaign").execute(make_context())


DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from votel_airflow.operators.workflows import (
    EnrollContactOperator, SetWorkflowVariableOperator, StartCampaignOperator, TriggerWorkflowOperator,
)

with DAG("workflows_dag", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"retries": 1, "retry_delay": timedelta(0)}):

    @task
    def pick() -> list[str]:
        return __CONTACTS__

    EnrollContactOperator(task_id="enroll", workflow_id="{{ dag_run.conf['workflow'] }}", contact_ids=pick())
    TriggerWorkflowOperator(task_id="fire", workflow_id="{{ dag_run.conf['workflow'] }}",
                            payload={"run": "{{ run_id }}"})
    SetWorkflowVariableOperator(task_id="var", name="{{ dag_run.conf['var'] }}", value="{{ ds }}")
    StartCampaignOperator(task_id="campaign", campaign_id="{{ dag_run.conf['campaign'] }}",
                          wait_for_completion=True, deferrable=True, poke_interval=0.2, timeout=60)
"""


def test_workflow_operators_render_templates_take_xcomargs_and_defer_in_a_dag_run(
    votel_sandbox: Any,
    votel_api_key: str,
    workflow_id: str,
    campaign_id: str,
    airflow_db: Path,
    dags: Path,
) -> None:
    contacts = contact_ids()[:3]
    write_dag(dags, DAG_SOURCE.replace("__CONTACTS__", repr(contacts)))

    dagrun = run_dag(
        dags, "workflows_dag", run_conf={"workflow": workflow_id, "var": "run_day", "campaign": campaign_id}
    )

    states = dagrun_task_states(dagrun)
    assert set(states.values()) == {"success"}, states
    enrolled = votel_sandbox.admin.records(votel_api_key, "enrollment")
    assert sorted(r["contact_id"] for r in enrolled) == sorted(contacts)
    (fired,) = votel_sandbox.admin.records(votel_api_key, "trigger")
    assert fired["payload"]["run"] == dagrun.run_id
    variables = {v["name"]: v["value"] for v in VotelHook().paginate(endpoints.WORKFLOW_VARIABLES)}
    assert variables["run_day"] == dagrun.logical_date.strftime("%Y-%m-%d")
    campaign = VotelHook().get(endpoints.path(endpoints.CAMPAIGN, campaign_id=campaign_id))
    assert campaign["status"] == "completed"
