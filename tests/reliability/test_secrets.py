"""The API key never shows: not in logs (root, task log files, urllib3 at DEBUG), XCom, rendered
fields, exception text, repr, a trigger's serialized kwargs or an extra link URL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.leaks import key_fragments, leaks
from tests.support import dagrun_task_states, run_dag, write_dag
from votel_airflow.exceptions import VotelAuthError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.sensors.communication import MessageDeliveryCondition
from votel_airflow.triggers.condition import VotelConditionTrigger

pytestmark = pytest.mark.slow

DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sensors.communication import MessageDeliverySensor

with DAG("secrets_dag", schedule=None, start_date=datetime(2026, 1, 1),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    send = SendSmsOperator(task_id="send", to="+14155550142", body="Hi {{ run_id }}")
    MessageDeliverySensor(task_id="delivered", message_ids=send.output, deferrable=True,
                          poke_interval=0.2, timeout=60)
    CallLogExtractOperator(task_id="extract", destination="__DEST__",
                           since="2026-10-01T00:00:00Z", until="2026-10-02T00:00:00Z")
"""


def test_key_fragments_cover_the_secret_part_only() -> None:
    fragments = key_fragments("sk_sandbox_abcdefghijkl")
    assert "sk_sandbox_abcdefghijkl" in fragments
    assert "ijkl" not in fragments
    assert "abcdefgh" in fragments
    assert "sk_sandb" not in fragments


def _db_texts(dagrun: Any) -> list[tuple[str, str]]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    texts: list[tuple[str, str]] = []
    with create_session() as session:
        for row in session.query(XComModel).filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id):
            texts.append((f"xcom {row.task_id}/{row.key}", repr(XComModel.deserialize_value(row))))
        for row in session.query(RenderedTaskInstanceFields).filter_by(
            dag_id=dagrun.dag_id, run_id=dagrun.run_id
        ):
            texts.append((f"rendered fields of {row.task_id}", repr(row.rendered_fields)))
        for trigger in session.query(Trigger).all():
            texts.append((f"trigger row {trigger.id}", repr(trigger.kwargs)))
    return texts


def _without_mask_requests(console: str) -> str:
    """The console without Airflow 3.0's ``dag.test()`` logging the masking request itself.

    3.0's in-process supervisor (dag.test() only; a worker's socket comms log nothing) logs each
    message a task sends it at DEBUG, ``MaskSecret(value=<the key>)`` included, as a model its
    masker does not walk. That line is the provider asking Airflow to hide the key; every other
    line must not hold it.
    """
    return "\n".join(line for line in console.splitlines() if "msg=MaskSecret(" not in line)


def test_dag_run_leaves_the_key_in_no_log_xcom_rendered_field_trigger_or_link(
    sandbox: SandboxServer,
    votel_api_key: str,
    use_connection: Any,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    use_connection(votel_api_key)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    write_dag(dags, DAG_SOURCE.replace("__DEST__", str(tmp_path / "calls.jsonl")))

    dagrun = run_dag(dags, "secrets_dag")

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    texts = _db_texts(dagrun)
    # Airflow stores the "View in Votel" URL the operator recorded as the extra link's XCom.
    assert any(where.startswith("xcom send/_link_VotelObjectLink") for where, _ in texts), "no link stored"
    assert any("/_admin" not in text and "http" in text for _, text in texts)
    out, err = capfd.readouterr()
    texts += [("stdout", _without_mask_requests(out)), ("stderr", _without_mask_requests(err))]
    # dag.test() runs tasks in this process and logs them to the console (captured here); files
    # under AIRFLOW_HOME/logs are scanned too, for the runs that do write them.
    assert "Wrote 0 records" in out + err + caplog.text, "the task logs were not captured"
    texts += [(f"log record {r.name}", r.getMessage()) for r in caplog.records]
    assert any(r.name.startswith("urllib3") for r in caplog.records), "urllib3 DEBUG was not captured"
    logs = Path(airflow_db) / "logs"
    texts += [(str(p), p.read_text(errors="replace")) for p in logs.rglob("*") if p.is_file()]
    assert leaks(votel_api_key, texts) == []


def test_hook_trigger_and_errors_never_show_the_key(
    sandbox: SandboxServer, votel_api_key: str, use_connection: Any, tmp_path: Path
) -> None:
    use_connection(votel_api_key)
    hook = VotelHook()
    trigger = VotelConditionTrigger.for_condition(
        MessageDeliveryCondition(["m-1"]), votel_conn_id="votel_default", poke_interval=1.0, timeout=60
    )
    operator = CallLogExtractOperator(
        task_id="extract", destination=str(tmp_path / "c.jsonl"), since="2026-10-01", until="2026-10-02"
    )
    texts = [
        ("hook repr", repr(hook)),
        ("settings repr", repr(hook.settings)),
        ("settings str", str(hook.settings)),
        ("trigger serialize", repr(trigger.serialize())),
        ("operator repr", repr(operator)),
    ]
    wrong = votel_api_key[:-4] + "zzzz"
    use_connection(wrong)
    with pytest.raises(VotelAuthError) as caught:
        VotelHook().get("/agents")
    texts += [("401 str", str(caught.value)), ("401 repr", repr(caught.value))]
    texts += [("401 args", repr(caught.value.args)), ("401 detail", repr(caught.value.detail))]
    assert leaks(votel_api_key, texts) == []
    assert leaks(wrong, texts) == []
