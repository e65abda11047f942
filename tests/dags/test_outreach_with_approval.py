"""The example ``votel_outreach_with_approval`` run with ``dag.test()``: preview, a person's answer
through the HITL API's own handler, then the send (approved) or nothing (rejected)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import EXAMPLES
from tests.dags.test_example_runs import _add_contacts
from tests.support import dagrun_task_states, run_dag
from votel_airflow.compat import has_human_in_the_loop
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.skipif(not has_human_in_the_loop(), reason="human-in-the-loop needs Airflow 3.1+"),
]
DAG_ID = "votel_outreach_with_approval"


class Reviewer:
    """A user of the UI, as the HITL API's handler reads one."""

    def get_id(self) -> str:
        return "reviewer"

    def get_name(self) -> str:
        return "Reviewer"


@contextmanager
def answering(option: str) -> Iterator[dict[str, Any]]:
    """Answer the approval with ``option`` once it waits, through the handler behind the UI's
    Required Actions (``PATCH .../hitlDetails``); yields what the question said."""
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    asked: dict[str, Any] = {}
    done = threading.Event()

    def respond() -> None:
        while not done.is_set():
            with create_session() as session:
                waiting = (
                    session.query(TaskInstance)
                    .filter(TaskInstance.dag_id == DAG_ID, TaskInstance.task_id == "approve")
                    .filter(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                    .one_or_none()
                )
                if waiting is not None:
                    asked.update(subject=waiting.hitl_detail.subject, body=waiting.hitl_detail.body)
                    update_hitl_detail(
                        dag_id=DAG_ID, dag_run_id=waiting.run_id, task_id="approve",
                        update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
                        user=Reviewer(), session=session,  # type: ignore[arg-type]
                    )  # fmt: skip
                    return
            time.sleep(0.2)

    thread = threading.Thread(target=respond, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        done.set()
        thread.join(timeout=10)


def _texted(sandbox: SandboxServer, api_key: str) -> list[str]:
    return sorted(m["recipient"] for m in sandbox.admin.records(api_key, "message"))


@pytest.fixture
def campaign(votel_connection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("VOTEL_DATA_DIR", str(tmp_path))
    hook = VotelHook(votel_connection)
    ids = _add_contacts(hook, "approval-test", ["+33612340001", "+33612340002", "+33612340003"])
    # One of them opted out: the preview reports it, the question counts it out.
    hook.request("PATCH", f"/contacts/{ids['+33612340003']}", json={"dnd": True})
    return ids


def test_approved_preview_is_sent_to_those_the_preview_counted(
    campaign: dict[str, str], votel_sandbox: SandboxServer, votel_api_key: str, tmp_path: Path
) -> None:
    with answering("Approve") as asked:
        states = dagrun_task_states(run_dag(EXAMPLES, DAG_ID, run_conf={"tag": "approval-test"}))

    assert states == {"find_contacts": "success", "preview": "success", "approve": "success", "send": "success"}
    assert asked["subject"] == "Text 2 people now and 0 after their quiet hours?"
    assert "Estimated cost: 0.02 (2 segments)" in asked["body"]
    assert _texted(votel_sandbox, votel_api_key) == sorted([campaign["+33612340001"], campaign["+33612340002"]])
    (preview,) = (tmp_path / "previews" / DAG_ID).glob("*.jsonl")
    rows = [json.loads(line) for line in preview.read_text().splitlines()]
    # The message as the send rendered it (params filled), and the opted-out contact's reason.
    assert {r["message"] for r in rows} == {"Hi from Votel Demo Co.! Reply STOP to opt out."}
    assert sorted(r["skip_reason"] or "" for r in rows) == ["", "", "opted_out"]


def test_rejected_preview_sends_nothing(
    campaign: dict[str, str], votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    with answering("Reject"):
        states = dagrun_task_states(run_dag(EXAMPLES, DAG_ID, run_conf={"tag": "approval-test"}))

    assert (states["approve"], states["send"]) == ("success", "skipped")
    assert _texted(votel_sandbox, votel_api_key) == []
