"""Names instead of ids: exactly one of id or name, resolved at run time to exactly one object."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CancelCallOperator
from votel_airflow.operators.agent_knowledge import SyncKnowledgeBaseOperator
from votel_airflow.operators.agents import DeployAgentVersionOperator, StartCallOperator, UpdateAgentOperator
from votel_airflow.operators.calendars import CreateBookingOperator
from votel_airflow.operators.workflows import (
    EnrollContactOperator,
    PauseCampaignOperator,
    ResumeCampaignOperator,
    StartCampaignOperator,
    TriggerWorkflowOperator,
)
from votel_airflow.sandbox.server import SandboxServer

#: Each operator taking a named object, the kind, and its other required arguments.
NAMED: list[tuple[type, str, dict[str, Any]]] = [
    (StartCallOperator, "agent", {"to": "+14155550101"}),
    (UpdateAgentOperator, "agent", {"enabled": True}),
    (DeployAgentVersionOperator, "agent", {}),
    (SyncKnowledgeBaseOperator, "agent", {"documents": [{"title": "a.md", "text": "A"}]}),
    (EnrollContactOperator, "workflow", {"contact_ids": ["c1"]}),
    (TriggerWorkflowOperator, "workflow", {}),
    (StartCampaignOperator, "campaign", {}),
    (PauseCampaignOperator, "campaign", {}),
    (ResumeCampaignOperator, "campaign", {}),
    (CreateBookingOperator, "calendar", {"contact_id": "c1", "start": "2026-11-03T10:00:00Z"}),
]


@pytest.mark.parametrize(("cls", "kind", "required"), NAMED, ids=[c.__name__ for c, _, _ in NAMED])
def test_exactly_one_of_the_id_or_the_name_is_required_when_the_operator_is_built(
    cls: type, kind: str, required: dict[str, Any]
) -> None:
    with pytest.raises(
        VotelInputError, match=f"give exactly one of {kind}_id or {kind}_name \\(got neither\\)"
    ):
        cls(task_id="t", **required)
    with pytest.raises(VotelInputError, match=f"give exactly one of {kind}_id or {kind}_name \\(got both\\)"):
        cls(task_id="t", **{f"{kind}_id": "x", f"{kind}_name": "y"}, **required)
    # A templated name is fine when built; it resolves when the task runs.
    operator = cls(task_id="t", **{f"{kind}_name": "{{ params.name }}"}, **required)
    assert f"{kind}_name" in operator.template_fields


def test_a_workflow_name_enrolls_in_the_workflow_that_has_it(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    hook = VotelHook()
    workflow = hook.get(endpoints.WORKFLOWS)[1]
    contact = hook.get(endpoints.CONTACTS)[0]["id"]

    result = EnrollContactOperator(
        task_id="enroll", workflow_name=workflow["name"], contact_ids=[contact]
    ).execute(make_context())

    assert result["enrolled"] == [contact]
    path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=workflow["id"])
    assert [e["contact_id"] for e in hook.get(path)] == [contact]


def test_a_name_that_matches_nothing_fails_naming_what_exists_before_anything_is_sent(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    names = sorted(w["name"] for w in VotelHook().get(endpoints.WORKFLOWS))

    with pytest.raises(VotelInputError, match="matches no workflow") as failure:
        EnrollContactOperator(task_id="enroll", workflow_name="Nope", contact_ids=["c1"]).execute(
            make_context()
        )

    assert str(names) in str(failure.value)
    assert votel_sandbox.admin.records(votel_api_key, "enrollment") == []


def test_a_name_several_objects_share_fails_naming_their_ids_before_anything_is_sent(
    votel_connection: str, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    hook = VotelHook()
    twins = sorted(
        hook.request("POST", endpoints.AGENTS, json={"name": "Twin", "prompt": "Hi"})["id"] for _ in range(2)
    )

    with pytest.raises(VotelInputError, match="matches 2 agents") as failure:
        StartCallOperator(task_id="call", agent_name="Twin", to="+14155550101").execute(make_context())

    assert str(twins) in str(failure.value)
    assert votel_sandbox.admin.records(votel_api_key, "call") == []


def test_a_name_rendered_empty_is_refused_when_the_task_runs(votel_connection: str) -> None:
    operator = CancelCallOperator(task_id="cancel", agent_name="{{ params.agent }}")
    operator.agent_name = ""  # what the template rendered

    with pytest.raises(VotelInputError, match="give exactly one of agent_id or agent_name"):
        operator.execute(make_context())
