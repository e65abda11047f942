"""Agent operators against the sandbox: exactly-once calls, waits, versions, knowledge-base sync."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support import FakeStateStore, FakeTaskInstance, arm_commit_then_500, link_of, make_context
from votel_airflow import endpoints
from votel_airflow.compat import TaskDeferred
from votel_airflow.delivery.idempotency import idempotency_key, stored_progress
from votel_airflow.exceptions import VotelInputError, VotelPaymentRequiredError, VotelServerError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.links import VotelObjectLink
from votel_airflow.operators.agents import (
    CreateAgentOperator,
    DeployAgentVersionOperator,
    StartCallOperator,
    SyncKnowledgeBaseOperator,
    UpdateAgentOperator,
)
from votel_airflow.sensors.base import VotelWaitFailed
from votel_airflow.triggers.condition import VotelConditionTrigger


@pytest.fixture
def agent_id(votel_connection: str) -> str:
    return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


def kb_documents(agent: str) -> list[dict[str, Any]]:
    return list(VotelHook().paginate(endpoints.path(endpoints.AGENT_KB_DOCUMENTS, agent_id=agent)))


def run_deferred(operator: Any, context: dict[str, Any]) -> Any:
    """Execute, run the trigger it defers to on an event loop, and resume with its event."""
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    trigger = info.value.trigger
    assert isinstance(trigger, VotelConditionTrigger)

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    [event] = asyncio.run(events())
    return getattr(operator, info.value.method_name)(context, event)


def test_start_call_returns_the_queued_call_and_links_to_it(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    operator = StartCallOperator(task_id="call", agent_id=agent_id, to="+14155550101")
    context = make_context(task=operator)

    result = operator.execute(context)

    assert result["status"] == "queued"
    assert result["to"] == "+14155550101"
    [record] = votel_sandbox.admin.records(votel_api_key, "call")
    assert record["id"] == result["id"]
    assert record["idempotency_key"] == idempotency_key(context, "call", agent_id, "+14155550101")
    assert link_of(operator).endswith(f"/activity/calls/{result['id']}")
    assert "votel_link" not in context["ti"].xcoms
    assert any(isinstance(link, VotelObjectLink) for link in StartCallOperator.operator_extra_links)


def test_start_call_retried_in_the_same_task_instance_calls_only_once(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    op = StartCallOperator(task_id="call", agent_id=agent_id, to="+14155550102")

    first = op.execute(make_context(ti=FakeTaskInstance(try_number=1)))
    second = op.execute(make_context(ti=FakeTaskInstance(try_number=2)))

    assert first["id"] == second["id"]
    assert len(votel_sandbox.admin.records(votel_api_key, "call")) == 1


def test_start_call_sends_contact_and_variables(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    contact = VotelHook().get(endpoints.CONTACTS, {"limit": 1})[0]

    StartCallOperator(
        task_id="call", agent_id=agent_id, to="+14155550103", contact_id=contact["id"],
        variables={"first_name": "Ada", "plan": {"tier": 2}},
    ).execute(make_context())  # fmt: skip

    [record] = votel_sandbox.admin.records(votel_api_key, "call")
    assert record["contact_id"] == contact["id"]
    assert record["variables"] == {"first_name": "Ada", "plan": {"tier": 2}}


def test_start_call_waits_synchronously_and_returns_the_ended_call(agent_id: str) -> None:
    op = StartCallOperator(
        task_id="call", agent_id=agent_id, to="+14155550104", wait_for_completion=True, poke_interval=0.1
    )

    result = op.execute(make_context())

    assert (result["status"], result["outcome"]) == ("completed", "callback_requested")
    assert result["duration_seconds"] > 0
    assert result["summary"] == "The contact asked to be called back later."


def test_start_call_deferrable_returns_the_ended_call_from_the_trigger(agent_id: str) -> None:
    op = StartCallOperator(
        task_id="call", agent_id=agent_id, to="+14155550106", deferrable=True, poke_interval=0.1, timeout=30
    )

    result = run_deferred(op, make_context())

    assert (result["status"], result["outcome"]) == ("completed", "not_interested")
    assert set(result) >= {"id", "status", "outcome", "duration_seconds", "summary"}


def test_start_call_deferrable_fails_clearly_on_a_fail_on_status(agent_id: str) -> None:
    op = StartCallOperator(
        task_id="call", agent_id=agent_id, to="+14155550108", deferrable=True, poke_interval=0.1,
        fail_on=["busy", "failed"],
    )  # fmt: skip

    with pytest.raises(VotelWaitFailed, match="ended busy"):
        run_deferred(op, make_context())


def test_start_call_wait_fails_on_failed_by_default(agent_id: str) -> None:
    op = StartCallOperator(
        task_id="call", agent_id=agent_id, to="+14155550109", wait_for_completion=True, poke_interval=0.1
    )

    with pytest.raises(VotelWaitFailed, match="ended failed"):
        op.execute(make_context())


def test_start_call_with_an_empty_wallet_fails_with_payment_required(
    votel_sandbox: Any, votel_api_key: str, agent_id: str
) -> None:
    votel_sandbox.admin.set_wallet(votel_api_key, 0.0)

    with pytest.raises(VotelPaymentRequiredError, match="402"):
        StartCallOperator(task_id="call", agent_id=agent_id, to="+14155550101").execute(make_context())
    assert votel_sandbox.admin.records(votel_api_key, "call") == []


def test_start_call_refuses_a_number_that_is_not_e164_when_parsed() -> None:
    with pytest.raises(VotelInputError, match="to='4155550101'"):
        StartCallOperator(task_id="call", agent_id="a", to="4155550101")


def test_start_call_refuses_a_rendered_bad_number_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))
    op = StartCallOperator(task_id="call", agent_id="a", to="{{ params.to }}")
    op.to = "+1 (415) 555-0101"

    with pytest.raises(VotelInputError, match=r"E\.164"):
        op.execute(make_context())


def test_start_call_refuses_a_number_no_numbering_plan_allows_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))
    op = StartCallOperator(
        task_id="call", agent_id="a", to="+44770090012345"
    )  # passes the parse-time pattern

    with pytest.raises(VotelInputError, match=r"to='\+44770090012345': no numbering plan allows this number"):
        op.execute(make_context())


def test_deploy_snapshots_a_new_version_and_makes_it_live(agent_id: str) -> None:
    hook = VotelHook()
    versions_path = endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
    before = list(hook.paginate(versions_path))
    operator = DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id)

    version = operator.execute(make_context(task=operator))

    after = list(hook.paginate(versions_path))
    assert len(after) == len(before) + 1
    assert version["number"] == max((v["number"] for v in before), default=0) + 1
    assert version["deployed"] is True
    assert [v["id"] for v in after if v["deployed"]] == [version["id"]]
    assert (
        hook.get(endpoints.path(endpoints.AGENT, agent_id=agent_id))["deployed_version_id"] == version["id"]
    )
    assert link_of(operator).endswith(f"/agents/{agent_id}")


def test_deploy_a_given_version_takes_no_snapshot(agent_id: str) -> None:
    hook = VotelHook()
    versions_path = endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
    first = hook.request("POST", versions_path)
    hook.request("POST", versions_path)
    count = len(list(hook.paginate(versions_path)))

    version = DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id, version_id=first["id"]).execute(
        make_context()
    )

    assert (version["id"], version["deployed"]) == (first["id"], True)
    assert len(list(hook.paginate(versions_path))) == count


def test_deploy_retry_reuses_the_snapshot_of_the_failed_try(
    agent_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    versions_path = endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
    original = VotelHook.request

    def deploy_fails(self: VotelHook, method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/deploy"):
            raise VotelServerError("500 on deploy")
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(VotelHook, "request", deploy_fails)
    with pytest.raises(VotelServerError):
        DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id).execute(
            make_context(state_store=store)
        )
    monkeypatch.setattr(VotelHook, "request", original)
    count = len(list(VotelHook().paginate(versions_path)))

    version = DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id).execute(
        make_context(state_store=store)
    )

    assert len(list(VotelHook().paginate(versions_path))) == count
    assert version["id"] == stored_progress(store, "votel_agent_snapshot")[agent_id]


def test_create_agent_retry_returns_the_agent_of_the_first_try(votel_connection: str) -> None:
    store = FakeStateStore()
    op = CreateAgentOperator(task_id="create", name="Renewals", prompt="You call about renewals.")
    before = len(VotelHook().get(endpoints.AGENTS))

    first = op.execute(make_context(state_store=store))
    second = op.execute(make_context(state_store=store))

    assert first == second
    assert (first["name"], first["enabled"]) == ("Renewals", True)
    assert len(VotelHook().get(endpoints.AGENTS)) == before + 1


@pytest.fixture
def commit_then_500(votel_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return arm_commit_then_500(votel_sandbox, monkeypatch)


def agents_named(name: str) -> list[dict[str, Any]]:
    return [a for a in VotelHook().paginate(endpoints.AGENTS) if a["name"] == name]


@pytest.mark.parametrize("store", [None, FakeStateStore], ids=["no-state-store", "task-state-store"])
def test_create_agent_retry_after_a_500_after_commit_returns_the_agent_instead_of_another(
    votel_connection: str, commit_then_500: Any, store: Any
) -> None:
    # Without a state store (Airflow 3.0-3.2) nothing survives the try; with one (3.3) the id was
    # never recorded because the answer was lost. Either way the retry must find the agent.
    state = store() if store else None
    op = CreateAgentOperator(task_id="create", name="Win-back", prompt="You call lapsed customers.")
    commit_then_500("/agents")
    with pytest.raises(VotelServerError):
        op.execute(make_context(state_store=state))
    [made] = agents_named("Win-back")

    again = op.execute(make_context(ti=FakeTaskInstance(try_number=2), state_store=state))

    assert again["id"] == made["id"]
    assert [a["id"] for a in agents_named("Win-back")] == [made["id"]]


def test_create_agent_does_not_return_an_identical_agent_made_before_the_run(votel_connection: str) -> None:
    body = {"name": "Dunning", "prompt": "You call about overdue invoices."}
    older = VotelHook().request("POST", endpoints.AGENTS, json=body)
    run = SimpleNamespace(run_after=datetime.fromisoformat(older["created_at"]) + timedelta(milliseconds=1))

    made = CreateAgentOperator(task_id="create", **body).execute(make_context(dag_run=run))

    assert made["id"] != older["id"]
    assert len(agents_named("Dunning")) == 2


def test_deploy_retry_after_a_500_after_commit_on_the_snapshot_deploys_that_snapshot(
    agent_id: str, commit_then_500: Any
) -> None:
    versions_path = endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
    op = DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id)
    before = {v["id"] for v in VotelHook().paginate(versions_path)}
    commit_then_500("/versions")
    with pytest.raises(VotelServerError):
        op.execute(make_context())
    [snapshot] = [v for v in VotelHook().paginate(versions_path) if v["id"] not in before]

    version = op.execute(make_context(ti=FakeTaskInstance(try_number=2)))

    assert version["id"] == snapshot["id"]
    assert {v["id"] for v in VotelHook().paginate(versions_path)} == before | {snapshot["id"]}


def test_deploy_snapshots_again_when_the_agent_changed_since_the_last_snapshot(agent_id: str) -> None:
    hook = VotelHook()
    versions_path = endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id)
    first = DeployAgentVersionOperator(task_id="deploy", agent_id=agent_id).execute(make_context())
    hook.request("PATCH", endpoints.path(endpoints.AGENT, agent_id=agent_id), json={"prompt": "New script."})

    second = DeployAgentVersionOperator(task_id="deploy2", agent_id=agent_id).execute(make_context())

    assert second["id"] != first["id"]
    assert {first["id"], second["id"]} <= {v["id"] for v in hook.paginate(versions_path)}


def test_update_agent_changes_only_the_given_fields(agent_id: str) -> None:
    hook = VotelHook()
    before = hook.get(endpoints.path(endpoints.AGENT, agent_id=agent_id))

    result = UpdateAgentOperator(task_id="update", agent_id=agent_id, enabled=False).execute(make_context())

    after = hook.get(endpoints.path(endpoints.AGENT, agent_id=agent_id))
    assert result["enabled"] is False
    assert after["enabled"] is False
    assert (after["name"], after["prompt"]) == (before["name"], before["prompt"])


def test_update_agent_with_nothing_to_change_fails_when_parsed() -> None:
    with pytest.raises(VotelInputError, match="nothing to change"):
        UpdateAgentOperator(task_id="update", agent_id="a")


@pytest.fixture
def fresh_agent(votel_connection: str) -> str:
    created = CreateAgentOperator(task_id="create", name="KB bot", prompt="Answer from the KB.")
    return str(created.execute(make_context())["id"])


def test_sync_adds_new_removes_gone_and_leaves_unchanged_alone(fresh_agent: str) -> None:
    def sync(documents: list[dict[str, str]]) -> dict[str, int]:
        op = SyncKnowledgeBaseOperator(task_id="kb", agent_id=fresh_agent, documents=documents)
        return op.execute(make_context())

    faq = {"title": "FAQ", "text": "Opening hours: 9-5."}
    prices = {"title": "Prices", "text": "Basic: 10 USD."}
    site = {"title": "Website", "url": "https://example.com/about"}
    assert sync([faq, prices]) == {"added": 2, "removed": 0, "unchanged": 0}
    kept_id = next(d["id"] for d in kb_documents(fresh_agent) if d["title"] == "FAQ")

    new_prices = {"title": "Prices", "text": "Basic: 12 USD."}
    result = sync([faq, new_prices, site])

    assert result == {"added": 2, "removed": 1, "unchanged": 1}
    docs = kb_documents(fresh_agent)
    assert sorted((d["title"], d.get("text"), d.get("url")) for d in docs) == [
        ("FAQ", "Opening hours: 9-5.", None),
        ("Prices", "Basic: 12 USD.", None),
        ("Website", None, "https://example.com/about"),
    ]
    assert next(d["id"] for d in docs if d["title"] == "FAQ") == kept_id
    assert sync([faq, new_prices, site]) == {"added": 0, "removed": 0, "unchanged": 3}


def test_sync_removes_duplicates_already_on_the_server(fresh_agent: str) -> None:
    path = endpoints.path(endpoints.AGENT_KB_DOCUMENTS, agent_id=fresh_agent)
    for _ in range(2):
        VotelHook().request("POST", path, json={"title": "FAQ", "text": "same"})

    result = SyncKnowledgeBaseOperator(
        task_id="kb", agent_id=fresh_agent, documents=[{"title": "FAQ", "text": "same"}]
    ).execute(make_context())

    assert result == {"added": 0, "removed": 1, "unchanged": 1}
    assert len(kb_documents(fresh_agent)) == 1


def test_sync_retry_after_a_failure_midway_adds_nothing_twice(
    fresh_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = [{"title": f"Doc {n}", "text": f"Text {n}"} for n in range(4)]
    original = VotelHook.request
    posts: list[str] = []

    def fail_on_third_post(self: VotelHook, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":
            posts.append(path)
            if len(posts) == 3:
                raise VotelServerError("503 after retries")
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(VotelHook, "request", fail_on_third_post)
    op = SyncKnowledgeBaseOperator(task_id="kb", agent_id=fresh_agent, documents=wanted)
    with pytest.raises(VotelServerError):
        op.execute(make_context())
    monkeypatch.setattr(VotelHook, "request", original)

    result = op.execute(make_context())

    assert result == {"added": 2, "removed": 0, "unchanged": 2}
    assert sorted(d["title"] for d in kb_documents(fresh_agent)) == [d["title"] for d in wanted]


def test_sync_from_a_folder_titles_documents_by_relative_path(fresh_agent: str, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    (folder / "policies").mkdir(parents=True)
    (folder / "faq.md").write_text("# FAQ\nWe open at 9.")
    (folder / "policies" / "refunds.txt").write_text("Refunds within 30 days.")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")

    result = SyncKnowledgeBaseOperator(task_id="kb", agent_id=fresh_agent, folder=str(folder)).execute(
        make_context()
    )

    assert result == {"added": 2, "removed": 0, "unchanged": 0}
    assert sorted((d["title"], d["text"]) for d in kb_documents(fresh_agent)) == [
        ("faq.md", "# FAQ\nWe open at 9."),
        ("policies/refunds.txt", "Refunds within 30 days."),
    ]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"documents": [{"title": "A", "text": "x", "url": "https://e.com"}]},
            "exactly one of 'text' or 'url'",
        ),
        ({"documents": [{"title": "A", "text": "x"}, {"title": "A", "text": "y"}]}, "repeats a title"),
        ({"documents": [{"title": "A", "url": "ftp://e.com/a"}]}, "not an http"),
        ({"documents": [{"title": "", "text": "x"}]}, "non-empty"),
        ({"documents": "FAQ"}, "list of documents"),
        ({"folder": "relative/kb"}, "relative path"),
        ({}, "exactly one of documents or folder"),
    ],
)
def test_sync_bad_documents_fail_before_any_request(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], problem: str
) -> None:
    monkeypatch.setattr(VotelHook, "request", lambda *a, **k: pytest.fail("a request was made"))

    with pytest.raises(VotelInputError, match=problem):
        SyncKnowledgeBaseOperator(task_id="kb", agent_id="a", **kwargs).execute(make_context())


def test_start_call_renders_every_templated_field_with_jinja() -> None:
    op = StartCallOperator(
        task_id="call", agent_id="{{ params.agent }}", to="{{ params.to }}",
        contact_id="{{ params.contact }}", variables={"first_name": "{{ params.name }}"},
    )  # fmt: skip
    params = {"agent": "ag-1", "to": "+14155550101", "contact": "c-1", "name": "Ada"}

    op.render_template_fields(make_context(params=params))

    assert (op.agent_id, op.to, op.contact_id, op.variables) == (
        "ag-1", "+14155550101", "c-1", {"first_name": "Ada"}
    )  # fmt: skip
