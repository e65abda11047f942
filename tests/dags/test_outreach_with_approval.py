"""The example ``votel_outreach_with_approval``, its tasks driven one by one against the sandbox:
the preview, the question rendered from its totals, an answer, then the send.

``dag.test()`` parks the approval in ``awaiting_input`` until an api-server records an answer, so
the answer is handed to the operator the way Airflow resumes it (``execute_complete`` with the
response event) and the send reads it from XCom as in a run.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import EXAMPLES
from tests.dags.test_example_runs import _add_contacts
from tests.support import make_context
from votel_airflow.compat import DagBag, has_human_in_the_loop
from votel_airflow.exceptions import VotelApprovalRequiredError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.skipif(not has_human_in_the_loop(), reason="human-in-the-loop needs Airflow 3.1+")
DAG_ID = "votel_outreach_with_approval"
PHONES = ["+33612340001", "+33612340002", "+33612340003"]


def _texted(sandbox: SandboxServer, api_key: str) -> list[str]:
    return sorted(m["recipient"] for m in sandbox.admin.records(api_key, "message"))


def _answer(option: str) -> dict[str, Any]:
    return {
        "chosen_options": [option], "params_input": {},
        "responded_at": datetime(2026, 6, 15, tzinfo=timezone.utc),
        "responded_by_user": {"id": "reviewer", "name": "Reviewer"},
    }  # fmt: skip


@pytest.fixture
def run(
    votel_connection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The DAG parsed, a context whose XCom the tasks share, the campaign's contacts, and the
    preview already run (one contact opted out)."""
    monkeypatch.setenv("VOTEL_DATA_DIR", str(tmp_path))
    hook = VotelHook(votel_connection)
    ids = _add_contacts(hook, "approval-test", PHONES)
    hook.request("PATCH", f"/contacts/{ids[PHONES[2]]}", json={"dnd": True})
    dag = DagBag(dag_folder=str(EXAMPLES / f"{DAG_ID}.py")).get_dag(DAG_ID)
    context = make_context(params={"votel_conn_id": votel_connection, "tag": "approval-test",
                                   "first_line": "from Votel Demo Co.!"}, dag=dag)  # fmt: skip
    contacts = sorted(ids.values())
    preview = dag.get_task("preview")
    preview.contact_ids = contacts
    preview.votel_conn_id = votel_connection
    preview.render_template_fields(context)
    totals = preview.execute(context)
    context["ti"].xcom_push("return_value", totals)
    return dag, context, ids


def _send(dag: Any, context: dict[str, Any], ids: dict[str, str], connection: str) -> Any:
    send = dag.get_task("send")
    send.contact_ids = sorted(ids.values())
    send.votel_conn_id = connection
    send.render_template_fields(context)
    return send.execute(context)


def test_the_question_quotes_the_previews_totals_and_the_rows_are_written(
    run: tuple[Any, dict[str, Any], dict[str, str]],
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    tmp_path: Path,
) -> None:
    dag, context, _ = run
    approve = dag.get_task("approve")
    approve.render_template_fields(context)

    assert approve.subject == "Text 2 people now and 0 after their quiet hours?"
    assert "Estimated cost: 0.02 (2 segments)" in approve.body
    assert _texted(votel_sandbox, votel_api_key) == []
    (preview,) = (tmp_path / "previews" / DAG_ID).glob("*.jsonl")
    rows = [json.loads(line) for line in preview.read_text().splitlines()]
    # The message as the send renders it (params filled), and the opted-out contact's reason.
    assert {r["message"] for r in rows} == {"Hi from Votel Demo Co.! Reply STOP to opt out."}
    assert sorted(r["skip_reason"] or "" for r in rows) == ["", "", "opted_out"]


def test_approved_the_send_reaches_those_the_preview_counted(
    run: tuple[Any, dict[str, Any], dict[str, str]],
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    votel_connection: str,
) -> None:
    dag, context, ids = run
    answer = dag.get_task("approve").execute_complete(context, event=_answer("Approve"))
    context["ti"].xcom_push("return_value", answer)

    summary = _send(dag, context, ids, votel_connection)

    assert summary["sent"] == 2
    assert _texted(votel_sandbox, votel_api_key) == PHONES[:2]


def test_rejected_the_send_refuses_even_if_it_runs(
    run: tuple[Any, dict[str, Any], dict[str, str]],
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    votel_connection: str,
) -> None:
    dag, context, ids = run
    # In a run "Reject" skips the send; a trigger rule that ran it anyway still sends nothing.
    context["ti"].xcom_push("return_value", dict(_answer("Reject"), responded_at="2026-06-15T00:00:00+00:00"))

    with pytest.raises(VotelApprovalRequiredError, match=r"'approve' gave \['Reject'\]"):
        _send(dag, context, ids, votel_connection)
    assert _texted(votel_sandbox, votel_api_key) == []
