"""The "View in Votel" link: built from the base URL, recorded by the operator that ran."""

from __future__ import annotations

from tests.support import make_context
from votel_airflow.compat import BaseOperator
from votel_airflow.links import VotelObjectLink, app_url, record_link


def test_app_url_drops_the_api_suffix_and_encodes_the_id() -> None:
    assert app_url("https://app.votel.ai/api", "contact", "c/1") == "https://app.votel.ai/contacts/c%2F1"


def test_get_link_returns_the_url_the_running_operator_recorded() -> None:
    task = BaseOperator(task_id="t")
    context = make_context(task=task)

    url = record_link(context, "https://app.votel.ai/api", "call", "call-1")

    assert url == "https://app.votel.ai/activity/calls/call-1"
    assert context["ti"].xcoms == {}, "the link is kept on the operator, not written to XCom"
    assert VotelObjectLink().get_link(task, ti_key=context["ti"]) == url


def test_the_link_reaches_the_task_copy_airflow_3_0_asks_it_of() -> None:
    # Airflow 3.0 sets the context's task, then runs and finalizes ti.task, a copy of it
    # (prepare_for_execution); 3.1+ puts the copy in the context as well.
    parsed = BaseOperator(task_id="t")
    context = make_context(task=parsed)
    context["ti"].task = running = parsed.prepare_for_execution()

    url = record_link(context, "https://app.votel.ai/api", "call", "call-1")

    assert VotelObjectLink().get_link(running, ti_key=context["ti"]) == url


def test_get_link_is_empty_when_the_task_touched_no_single_object() -> None:
    assert VotelObjectLink().get_link(BaseOperator(task_id="bulk"), ti_key=None) == ""  # type: ignore[arg-type]
