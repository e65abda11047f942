"""A bulk send and an extraction stopped mid-way, then run again: nobody twice, nobody skipped.

Two ways to stop: an exception injected after k items on the first try, retried by Airflow's own
retry path inside ``dag.test()``; and a real SIGKILL of the process running ``dag.test()`` once the
sandbox has seen k sends (or k pages), after which the killed try is put up for retry and its next
try runs in the same DAG run (``retry_in_place``), with the progress the killed try stored: the
send must resume about where the kill struck, not start over. A hook verb in a ``@task`` gets the
same SIGKILL between the server's answer and its save, on a server that ignores Idempotency-Key.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.crash_dag import DAG_ID, LOGICAL_DATE, dag_source
from tests.reliability.figures import Figure, record
from tests.reliability.leaks import leaks
from tests.reliability.retry_in_place import retry_the_killed_run, try_numbers
from tests.support import FakeStateStore, dagrun_task_states, make_context, run_dag, task_result, write_dag
from votel_airflow import compat, endpoints
from votel_airflow.delivery.idempotency import FLUSH_EVERY_ITEMS, stored_progress
from votel_airflow.hooks.votel import READ_AHEAD_PAGES, VotelHook
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SINCE = "2026-10-05T00:00:00+00:00"
UNTIL = "2026-10-06T00:00:00+00:00"
RECIPIENTS = 600
CALL_LOGS = 5_000
PAGE_SIZE = 50
CRASH_AFTER = 150
CRASH_AFTER_PAGES = 40
KILL_AFTER_PAGES = 20
#: Halfway between two flushes (every 100 items), so a kill rarely lands on one.
KILL_AFTER_SENDS = 250
#: The send's requests in flight at most (SendSmsOperator's default max_concurrency).
IN_FLIGHT = 8


def _numbers() -> list[str]:
    return [f"+1212555{i:04d}" for i in range(RECIPIENTS)]


def _clean_ids() -> list[str]:
    hook = VotelHook()
    return [r["id"] for r in hook.paginate(endpoints.CALL_LOGS, params={"since": SINCE, "until": UNTIL})]


def _assert_each_texted_once(sandbox: SandboxServer, api_key: str) -> None:
    per_recipient = Counter(r["recipient"] for r in sandbox.admin.records(api_key, "sms"))
    twice = {n: c for n, c in per_recipient.items() if c > 1}
    assert not twice, f"texted more than once: {twice}"
    assert set(per_recipient) == set(_numbers()), (
        f"skipped: {sorted(set(_numbers()) - set(per_recipient))[:10]}"
    )


def _assert_file_complete_and_alone(folder: Path, expected_ids: list[str]) -> None:
    destination = folder / "calls.jsonl"
    with destination.open() as lines:
        ids = [json.loads(line)["id"] for line in lines]
    assert ids == expected_ids
    assert sorted(p.name for p in folder.iterdir()) == ["calls.jsonl"], "temporary files left behind"


@pytest.fixture
def tenant(sandbox: SandboxServer, use_connection: Any) -> str:
    api_key = sandbox.admin.create_account(balance=10_000.0, seed=False)
    sandbox.admin.generate_call_logs(api_key, CALL_LOGS, SINCE, UNTIL)
    use_connection(api_key)
    return api_key


def test_injected_failure_after_k_items_is_retried_by_airflow_without_repeats_or_gaps(
    sandbox: SandboxServer,
    tenant: str,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    # The results file gives Airflow 3.0-3.2 (no task state store) a place for the progress; kept
    # apart from the extract's folder, which must hold its one file.
    source = dag_source(
        _numbers(), str(out / "calls.jsonl"), SINCE, UNTIL, rate=None, page_size=PAGE_SIZE,
        results=str(tmp_path / "results" / "sms.json"),
    )  # fmt: skip
    write_dag(dags, source)
    monkeypatch.setenv("RELIABILITY_CRASH_SENDS", str(CRASH_AFTER))
    monkeypatch.setenv("RELIABILITY_CRASH_PAGES", str(CRASH_AFTER_PAGES))
    expected = _clean_ids()
    sandbox.admin.reset_stats()
    started = time.monotonic()

    dagrun = run_dag(dags, DAG_ID, logical_date=_logical_date(), run_after=_logical_date())

    wall = time.monotonic() - started
    assert dagrun_task_states(dagrun) == {"send": "success", "extract": "success"}
    _assert_each_texted_once(sandbox, tenant)
    _assert_file_complete_and_alone(out, expected)
    summary = task_result(dagrun, "send")
    # The second try resumed from the task state store (from the results file's progress on 3.0-3.2).
    # The few sends in flight at the crash are asked again under their idempotency keys, and the
    # sandbox answers them from its cache.
    assert CRASH_AFTER - 8 <= summary["resumed"] <= CRASH_AFTER
    assert summary["sent"] == RECIPIENTS - summary["resumed"]
    paths = sandbox.admin.stats()["paths"]
    sms_requests = paths.get("POST /communication/sms", 0)
    assert sms_requests == CRASH_AFTER + summary["sent"], (paths, summary)
    pages = -(-CALL_LOGS // PAGE_SIZE) + 1
    log_requests = paths.get("GET /activity/call-logs", 0)
    # The crashed try's requests, then every page once; reading ahead may ask past the last page.
    assert CRASH_AFTER_PAGES + pages <= log_requests <= CRASH_AFTER_PAGES + pages + READ_AHEAD_PAGES
    record(
        Figure(
            "exception after k=150, Airflow retry",
            f"SMS to {RECIPIENTS}",
            sms_requests,
            sms_requests - RECIPIENTS,
            wall,
            f"{RECIPIENTS} texted once; try 2 resumed {summary['resumed']}",
        )
    )
    record(
        Figure(
            "exception after k=40 pages, Airflow retry",
            f"extraction {CALL_LOGS} rows",
            log_requests,
            log_requests - pages,
            wall,
            "file complete, once, no temp",
        )
    )


def _logical_date() -> Any:
    import pendulum

    return pendulum.parse(LOGICAL_DATE)


def _kill_when(proc: subprocess.Popen[bytes], reached: Callable[[], bool], timeout: float = 120.0) -> float:
    """SIGKILL the process group of ``proc`` as soon as ``reached()``; the time it took."""
    started = time.monotonic()
    while not reached():
        if proc.poll() is not None:
            raise AssertionError(f"the DAG run ended (code {proc.returncode}) before the kill point")
        if time.monotonic() - started > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("kill point not reached in time")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return time.monotonic() - started


def _killed_output(log: Path) -> str:
    """The killed run's output, less Airflow 3.0's echo of the secrets it is asked to mask.

    Airflow 3.0's in-process supervisor of ``dag.test()`` logs every message at DEBUG, the
    ``MaskSecret`` carrying the connection's password included (later minors do not print it); a
    worker's real supervisor does not. Any other trace of the key still fails the check.
    """
    lines = log.read_text().splitlines()
    return "\n".join(line for line in lines if "Sending request" not in line or "MaskSecret(" not in line)


def _start_dag_process(dags: Path, log: Path, dag_id: str = DAG_ID) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RELIABILITY_CRASH_SENDS": "0",
        "RELIABILITY_CRASH_PAGES": "0",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
    }
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.dag_process", str(dags), dag_id, LOGICAL_DATE],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_sigkill_mid_send_then_retry_in_the_same_dag_run_resumes_and_texts_nobody_twice(
    sandbox: SandboxServer,
    tenant: str,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    # 100 sends a second keeps the send going long enough to be killed in the middle. The results
    # file gives Airflow 3.0-3.2 (no task state store) a place for the progress too.
    source = dag_source(
        _numbers(), str(out / "calls.jsonl"), SINCE, UNTIL, rate=100.0, page_size=PAGE_SIZE,
        results=str(out / "sms.json"),
    )  # fmt: skip
    write_dag(dags, source)
    sandbox.admin.reset_stats()
    proc = _start_dag_process(dags, tmp_path / "first.log")
    _kill_when(proc, lambda: len(sandbox.admin.records(tenant, "sms")) >= KILL_AFTER_SENDS)
    sent_before_kill = len(sandbox.admin.records(tenant, "sms"))
    assert leaks(tenant, [("killed dag.test() output", _killed_output(tmp_path / "first.log"))]) == []
    assert KILL_AFTER_SENDS <= sent_before_kill < RECIPIENTS, sent_before_kill
    run_id = retry_the_killed_run(DAG_ID, monkeypatch)
    started = time.monotonic()

    dagrun = run_dag(dags, DAG_ID, logical_date=_logical_date(), run_after=_logical_date())

    wall = time.monotonic() - started
    assert dagrun.run_id == run_id
    assert dagrun_task_states(dagrun)["send"] == "success"
    assert try_numbers(DAG_ID, run_id)["send"] == 2, "the send was not retried in the killed run"
    _assert_each_texted_once(sandbox, tenant)
    summary = task_result(dagrun, "send")
    # The retry skips what the killed try stored; what it had not flushed yet (under one chunk) and
    # the requests in flight at the kill are asked again, under the same idempotency keys.
    assert sent_before_kill - FLUSH_EVERY_ITEMS - IN_FLIGHT <= summary["resumed"] <= sent_before_kill, (
        sent_before_kill,
        summary,
    )
    assert summary["sent"] == RECIPIENTS - summary["resumed"], summary
    sms_requests = sandbox.admin.stats()["paths"].get("POST /communication/sms", 0)
    record(
        Figure(
            f"SIGKILL after >={KILL_AFTER_SENDS} sends, retry in the same run",
            f"SMS to {RECIPIENTS}",
            sms_requests,
            sms_requests - RECIPIENTS,
            wall,
            f"{sent_before_kill} before kill; try 2: {summary['resumed']} resumed, {summary['sent']} sent",
        )
    )


def test_sigkill_mid_extraction_then_retry_in_the_same_dag_run_writes_the_file_complete_once(
    sandbox: SandboxServer,
    tenant: str,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    write_dag(
        dags, dag_source(_numbers(), str(out / "calls.jsonl"), SINCE, UNTIL, rate=None, page_size=PAGE_SIZE)
    )
    expected = _clean_ids()
    # Every page answered 0.1 s late so the extraction is still running at the kill point.
    sandbox.admin.set_faults(slow_rate=1.0, slow_seconds=0.1)
    sandbox.admin.reset_stats()
    proc = _start_dag_process(dags, tmp_path / "first.log")
    _kill_when(
        proc, lambda: sandbox.admin.stats()["paths"].get("GET /activity/call-logs", 0) >= KILL_AFTER_PAGES
    )
    sandbox.admin.clear_faults()
    assert leaks(tenant, [("killed dag.test() output", _killed_output(tmp_path / "first.log"))]) == []
    leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert "calls.jsonl" not in leftovers, "a killed extraction published a partial file"
    assert any(name.startswith(".calls.jsonl.") and name.endswith(".tmp") for name in leftovers), leftovers
    run_id = retry_the_killed_run(DAG_ID, monkeypatch)
    started = time.monotonic()

    dagrun = run_dag(dags, DAG_ID, logical_date=_logical_date(), run_after=_logical_date())

    wall = time.monotonic() - started
    assert dagrun.run_id == run_id
    assert dagrun_task_states(dagrun)["extract"] == "success"
    assert try_numbers(DAG_ID, run_id)["extract"] == 2, "the extraction was not retried in the killed run"
    # The retry's successful write also removes the temporary file the killed try left.
    _assert_file_complete_and_alone(out, expected)
    log_requests = sandbox.admin.stats()["paths"].get("GET /activity/call-logs", 0)
    record(
        Figure(
            "SIGKILL after 20 pages, retry in the same run",
            f"extraction {CALL_LOGS} rows",
            log_requests,
            log_requests - (-(-CALL_LOGS // PAGE_SIZE) + 1),
            wall,
            f"file complete, once; {len(leftovers)} stale temp removed by the retry",
        )
    )


VERB_DAG_ID = "reliability_verb_kill"
#: A @task whose first try is SIGKILLed the moment its verb's POST is answered: after the server
#: texted, before the verb saved the answer (the whole process group, as a lost worker).
VERB_KILL_DAG = """
import os
import signal
from datetime import datetime, timedelta

from airflow.sdk import DAG, get_current_context, task

from votel_airflow.hooks.votel import VotelHook


class KilledOnAnswer(VotelHook):
    def request(self, method, path, **kwargs):
        answer = super().request(method, path, **kwargs)
        if method == "POST" and get_current_context()["ti"].try_number == 1:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return answer


with DAG("__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1)):

    @task(retries=1, retry_delay=timedelta(0))
    def reach():
        return KilledOnAnswer().send_sms("__TO__", "Your order shipped")

    reach()
"""


def test_sigkill_between_a_verbs_answer_and_its_save_then_retry_texts_nobody_twice(
    careless_server: SandboxServer,
    account: Any,
    airflow_db: Path,
    dags: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a server that ignores Idempotency-Key, only the verb's write-ahead tells the retry that a
    # request may have left; the retry finds the text in the messaging log instead of sending again.
    key = account(server_idempotency=False)
    to = "+14157770777"
    write_dag(dags, VERB_KILL_DAG.replace("__DAG_ID__", VERB_DAG_ID).replace("__TO__", to))
    proc = _start_dag_process(dags, tmp_path / "first.log", VERB_DAG_ID)
    assert proc.wait(120) == -signal.SIGKILL, _killed_output(tmp_path / "first.log")[-2000:]
    (texted,) = careless_server.admin.records(key, "sms")
    run_id = retry_the_killed_run(VERB_DAG_ID, monkeypatch)

    dagrun = run_dag(dags, VERB_DAG_ID, logical_date=_logical_date(), run_after=_logical_date())

    assert dagrun.run_id == run_id
    assert try_numbers(VERB_DAG_ID, run_id)["reach"] == 2, "the task was not retried in the killed run"
    assert [r["id"] for r in careless_server.admin.records(key, "sms")] == [texted["id"]]
    if not has_task_state_store():
        # Nothing outlives a try before 3.3: the retry refuses (VotelUnsafeRetryError) before any
        # request rather than text again.
        assert dagrun_task_states(dagrun) == {"reach": "failed"}
        return
    assert dagrun_task_states(dagrun) == {"reach": "success"}
    answer = task_result(dagrun, "reach")
    assert (answer["id"], answer["status"]) == (texted["id"], "reconciled")


def has_task_state_store() -> bool:
    """Airflow 3.3+: what a verb keeps outlives its try."""
    return not (compat.airflow_version() or "").startswith(("3.0.", "3.1.", "3.2."))


class _SlowThenCrashingHook(VotelHook):
    """Sends 1..k take 0.3 s and succeed; send k+1 raises at once, while 1..k are still in flight.
    Reads (the outreach policy's, before any send) pass through uncounted."""

    def __init__(self, crash_after: int) -> None:
        super().__init__()
        self.crash_after = crash_after
        self.calls = 0
        self.lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "GET":
            return super().request(method, path, **kwargs)
        with self.lock:
            self.calls += 1
            number = self.calls
        if number > self.crash_after:
            raise RuntimeError(f"injected crash at call {number}")
        time.sleep(0.3)
        return super().request(method, path, **kwargs)


def test_sends_completed_alongside_a_crash_are_recorded_as_done(sandbox: SandboxServer, tenant: str) -> None:
    store = FakeStateStore()
    operator = SendSmsOperator(task_id="sms", to=_numbers()[:4], body="hi", max_concurrency=4)
    operator.__dict__["hook"] = _SlowThenCrashingHook(crash_after=2)

    with pytest.raises(RuntimeError, match="injected crash"):
        operator.execute(make_context(state_store=store))

    assert len(sandbox.admin.records(tenant, "sms")) == 2
    assert len(stored_progress(store, "votel_send_sms")) == 2
