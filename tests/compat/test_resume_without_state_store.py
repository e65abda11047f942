"""A send that crashes mid-way resumes on retry on every minor: from the task state store (3.3+) or,
where Airflow has none (3.0-3.2), from the progress file beside ``results_destination``.

The first try's hook raises after k SMS; Airflow's own retry (inside ``dag.test()``) runs the task
again. Nobody may be texted twice, nobody skipped, and the retry must skip the k done recipients
without asking the API for them again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pendulum
import pytest

from tests.reliability.crash_dag import DAG_ID, LOGICAL_DATE, dag_source
from tests.support import dagrun_task_states, make_context, run_dag, task_result, write_dag
from votel_airflow.delivery.progress_stores import progress_path
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

RECIPIENTS = 120
CRASH_AFTER = 50


def _numbers() -> list[str]:
    return [f"+1212555{i:04d}" for i in range(RECIPIENTS)]


def test_a_send_crashed_after_k_resumes_on_retry_and_texts_nobody_twice(
    votel_sandbox: SandboxServer,
    votel_api_key: str,
    votel_connection: str,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = tmp_path / "out" / "sms.json"
    source = dag_source(
        _numbers(), str(tmp_path / "out" / "calls.jsonl"), "2026-10-05T00:00:00+00:00",
        "2026-10-06T00:00:00+00:00", rate=None, page_size=50, results=str(results),
    )  # fmt: skip
    write_dag(dags, source)
    monkeypatch.setenv("RELIABILITY_CRASH_SENDS", str(CRASH_AFTER))
    monkeypatch.setenv("RELIABILITY_CRASH_PAGES", "0")
    votel_sandbox.admin.reset_stats()

    date = pendulum.parse(LOGICAL_DATE)
    dagrun = run_dag(dags, DAG_ID, logical_date=date, run_after=date)

    assert dagrun_task_states(dagrun)["send"] == "success"
    per_recipient = Counter(r["recipient"] for r in votel_sandbox.admin.records(votel_api_key, "sms"))
    assert {n: c for n, c in per_recipient.items() if c > 1} == {}, "texted twice"
    assert set(per_recipient) == set(_numbers()), "skipped someone"
    summary = task_result(dagrun, "send")
    # The retry resumed the crashed try's work; the few sends in flight at the crash are asked again
    # under their idempotency keys and answered from the sandbox's cache.
    assert CRASH_AFTER - 8 <= summary["resumed"] <= CRASH_AFTER, summary
    posts = votel_sandbox.admin.stats()["paths"].get("POST /communication/sms", 0)
    assert posts == CRASH_AFTER + summary["sent"], (posts, summary)
    assert json.loads(results.read_text()).keys() == set(_numbers())
    # Without a task state store (3.0-3.2) only the progress file can have carried the resume above;
    # the successful retry then removes it, the results file being the record.
    assert not progress_path_exists(results)


def progress_path_exists(results: Path) -> bool:
    from votel_airflow.destinations import as_storage_path

    return bool(progress_path(as_storage_path("results_destination", str(results))).exists())


def test_without_a_durable_store_the_send_says_a_retry_relies_on_idempotency_keys(
    votel_sandbox: SandboxServer, votel_connection: str, caplog: pytest.LogCaptureFixture
) -> None:
    operator = SendSmsOperator(task_id="sms", to=_numbers()[:2], body="hi")
    with caplog.at_level(logging.WARNING, logger="votel_airflow.delivery.engine"):
        summary = operator.execute(make_context())
    assert summary["sent"] == 2
    assert "relies on idempotency keys alone" in caplog.text
