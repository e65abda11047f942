"""Under every fault the sandbox injects, bulk work ends exactly right: no row lost, nobody twice.

Each scenario runs three workloads over real HTTP: a 20,000-row call-log extraction (compared id
by id with a fault-free fetch), an SMS to 2,000 recipients and an enrollment of 1,500 contacts
(each checked against what the sandbox recorded per recipient). The figures (requests, retries,
wall time) go to the end-of-session table.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import MAX_RETRIES, connection_json
from tests.reliability.figures import Figure, record
from tests.support import FakeTaskInstance, make_context
from votel_airflow import endpoints
from votel_airflow.delivery.xcom_results import MAX_IDS_IN_XCOM
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.communication import SendSmsOperator
from votel_airflow.operators.workflows import EnrollContactOperator
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

SINCE = "2026-10-01T00:00:00+00:00"
UNTIL = "2026-10-02T00:00:00+00:00"
CALL_LOG_ROWS = 20_000
SMS_RECIPIENTS = 2_000
ENROLL_CONTACTS = 1_500
ENROLL_BATCH = 50
#: The read timeout of the slow scenarios, under the sandbox's slow answers of SLOW_SECONDS.
SHORT_TIMEOUT = 1.0
SLOW_SECONDS = 2.0
#: 429s per burst; each is answered ``Retry-After: 1``, so a burst costs a sequential reader 5 s.
BURST = 4
#: Bursts per workload in the 429 scenario.
BURSTS = 3


@dataclass(frozen=True)
class Scenario:
    """A fault setting of the sandbox.

    :param name: shown in the figures table.
    :param faults: keyword arguments of ``SandboxAdmin.set_faults``.
    :param rearm: re-arm the faults once a burst is used up, for repeated 429 bursts.
    """

    name: str
    faults: dict[str, Any]
    rearm: bool = False

    @property
    def timeout(self) -> float:
        return SHORT_TIMEOUT if self.faults.get("slow_rate") else 10.0


SCENARIOS = [
    Scenario("429 bursts (Retry-After: 1)", {"burst_429": BURST}, rearm=True),
    Scenario("5% random 500s", {"error_rate": 0.05, "fault_seed": 1}),
    Scenario("5% HTML 502 pages", {"html_502_rate": 0.05, "fault_seed": 2}),
    Scenario("5% dropped connections", {"drop_rate": 0.05, "fault_seed": 3}),
    Scenario(
        "5% read timeouts (2 s answers, 1 s timeout)",
        {"slow_rate": 0.05, "slow_seconds": SLOW_SECONDS, "fault_seed": 4},
    ),
    Scenario(
        "all mixed",
        {
            "error_rate": 0.03,
            "html_502_rate": 0.02,
            "drop_rate": 0.02,
            "slow_rate": 0.02,
            "slow_seconds": SLOW_SECONDS,
            "burst_429": BURST,
            "fault_seed": 5,
        },
    ),
]


class FaultRun:
    """Inject a scenario's faults around a workload and measure what it cost.

    :param sandbox: the running sandbox.
    :param scenario: the faults to inject.
    """

    def __init__(self, sandbox: SandboxServer, scenario: Scenario) -> None:
        self.sandbox = sandbox
        self.scenario = scenario
        self.wall_seconds = 0.0
        self.stats: dict[str, Any] = {}

    def run(self, workload: Callable[[], Any]) -> Any:
        admin = self.sandbox.admin
        admin.reset_stats()
        admin.set_faults(**self.scenario.faults)
        stop = threading.Event()
        rearmer = threading.Thread(target=self._rearm, args=(stop,), daemon=True)
        if self.scenario.rearm:
            rearmer.start()
        started = time.monotonic()
        try:
            return workload()
        finally:
            self.wall_seconds = time.monotonic() - started
            stop.set()
            if rearmer.is_alive():
                rearmer.join()
            admin.clear_faults()
            if self.scenario.faults.get("slow_rate"):
                # A request the client gave up on is still asleep in the sandbox; it is counted
                # (and handled) only when it wakes.
                time.sleep(SLOW_SECONDS + 0.5)
            self.stats = admin.stats()

    def _rearm(self, stop: threading.Event) -> None:
        # The next burst comes only once the last one was used up and a request got through since:
        # re-arming during a burst would stretch it past any retry budget, which is another test.
        bursts = 1
        used_up_at_ok: int | None = None
        while bursts < BURSTS and not stop.wait(0.2):
            stats = self.sandbox.admin.stats()
            used = int(stats["faults"].get("burst_429", 0))
            ok = sum(int(n) for status, n in stats["by_status"].items() if status.startswith("2"))
            if used < bursts * BURST:
                continue
            if used_up_at_ok is None:
                used_up_at_ok = ok
            elif ok > used_up_at_ok:
                self.sandbox.admin.set_faults(**self.scenario.faults)
                bursts += 1
                used_up_at_ok = None

    def report(self, workload: str, clean_requests: int, checked: str) -> None:
        """Record the figures, after checking that faults really happened and were ridden out."""
        requests = int(self.stats["requests_total"])
        faults = {k: v for k, v in self.stats["faults"].items() if v}
        assert faults, f"no fault was injected in {self.scenario.name!r}: the scenario proves nothing"
        assert requests > clean_requests, self.stats
        record(
            Figure(
                scenario=self.scenario.name,
                workload=workload,
                requests=requests,
                retries=requests - clean_requests,
                wall_seconds=self.wall_seconds,
                checked=checked,
                faults=faults,
            )
        )


def _context(run_id: str) -> dict[str, Any]:
    return make_context(ti=FakeTaskInstance(dag_id="reliability", task_id="work", run_id=run_id))


@dataclass(frozen=True)
class CallLogTenant:
    """An account holding CALL_LOG_ROWS call logs in [SINCE, UNTIL), and their fault-free fetch.

    :param api_key: the account's key.
    :param ids: the ids of a fault-free fetch, in API order.
    :param clean_requests: the requests that fault-free fetch made.
    """

    api_key: str
    ids: list[str]
    clean_requests: int


@pytest.fixture(scope="module")
def call_log_tenant(votel_sandbox: SandboxServer) -> CallLogTenant:
    admin = votel_sandbox.admin
    api_key = admin.create_account(seed=False)
    admin.generate_call_logs(api_key, CALL_LOG_ROWS, SINCE, UNTIL)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", connection_json(votel_sandbox.base_url, api_key))
        admin.reset_stats()
        hook = VotelHook()
        ids = [
            row["id"] for row in hook.paginate(endpoints.CALL_LOGS, params={"since": SINCE, "until": UNTIL})
        ]
        clean_requests = int(admin.stats()["requests_total"])
        hook.close()
    assert len(ids) == CALL_LOG_ROWS == len(set(ids))
    return CallLogTenant(api_key, ids, clean_requests)


def _extract_under(run: FaultRun, tenant: CallLogTenant, folder: Path) -> None:
    destination = folder / "calls.jsonl"
    operator = CallLogExtractOperator(
        task_id="extract", destination=str(destination), since=SINCE, until=UNTIL
    )
    manifest = run.run(lambda: operator.execute(_context("extract")))
    with destination.open() as lines:
        ids = [json.loads(line)["id"] for line in lines]
    assert manifest["records"] == len(ids) == CALL_LOG_ROWS
    # Same ids in the same order: nothing lost, nothing repeated by a retried page.
    assert ids == tenant.ids
    assert sorted(p.name for p in folder.iterdir()) == ["calls.jsonl"], "temporary files left behind"
    run.report(
        "call-log extraction, 20,000 rows", tenant.clean_requests, "20,000 rows = clean fetch, in order"
    )


def _send_sms_under(run: FaultRun, sandbox: SandboxServer, api_key: str) -> None:
    numbers = [f"+1415555{i:04d}" for i in range(SMS_RECIPIENTS)]
    operator = SendSmsOperator(task_id="sms", to=numbers, body="Your table is ready", max_concurrency=8)
    summary = run.run(lambda: operator.execute(_context("sms")))
    per_recipient = Counter(r["recipient"] for r in sandbox.admin.records(api_key, "sms"))
    twice = {number: n for number, n in per_recipient.items() if n > 1}
    assert not twice, f"texted more than once: {dict(list(twice.items())[:10])}"
    assert set(per_recipient) == set(numbers), "some recipients were skipped"
    assert summary["sent"] == SMS_RECIPIENTS
    assert summary["failed"] == 0
    run.report("SMS to 2,000 recipients", SMS_RECIPIENTS, "2,000 recipients, each texted once")


def _import_contacts(count: int) -> list[str]:
    """Add ``count`` contacts through the import job; their ids."""
    hook = VotelHook()
    rows = [{"first_name": f"Lead {i}", "phone": f"+1415558{i:04d}"} for i in range(count)]
    job = hook.request("POST", endpoints.CONTACT_IMPORTS, json={"contacts": rows, "match_on": "phone"})
    deadline = time.monotonic() + 30
    while job["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = hook.get(endpoints.path(endpoints.CONTACT_IMPORT, import_id=job["id"]))
    assert job["status"] == "completed", job
    phones = {row["phone"] for row in rows}
    ids = [c["id"] for c in hook.paginate(endpoints.CONTACTS) if c.get("phone") in phones]
    assert len(ids) == count
    return ids


def _enroll_under(run: FaultRun, sandbox: SandboxServer, api_key: str) -> None:
    contact_ids = _import_contacts(ENROLL_CONTACTS)
    workflow_id = str(VotelHook().get(endpoints.WORKFLOWS)[0]["id"])
    # Batches of 50, not 500: three requests would rarely meet a 5% fault; thirty do.
    operator = EnrollContactOperator(
        task_id="enroll", workflow_id=workflow_id, contact_ids=contact_ids, batch_size=ENROLL_BATCH
    )
    result = run.run(lambda: operator.execute(_context("enroll")))
    mine = set(contact_ids)
    records = [r for r in sandbox.admin.records(api_key, "enrollment") if r["contact_id"] in mine]
    per_contact = Counter(r["contact_id"] for r in records)
    twice = {c: n for c, n in per_contact.items() if n > 1}
    assert not twice, f"enrolled more than once: {dict(list(twice.items())[:10])}"
    assert set(per_contact) == mine, "some contacts were not enrolled"
    # The XCom result lists the first 1,000 ids; its count is exact.
    assert result["enrolled_count"] == len(mine)
    assert set(result["enrolled"]) <= mine
    assert len(result["enrolled"]) == min(len(mine), MAX_IDS_IN_XCOM)
    batches = -(-ENROLL_CONTACTS // ENROLL_BATCH)
    run.report("enrollment of 1,500 contacts (batches of 50)", batches, "1,500 contacts, each enrolled once")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_call_log_extraction_under_faults_writes_exactly_the_rows_the_sandbox_holds(
    scenario: Scenario,
    sandbox: SandboxServer,
    call_log_tenant: CallLogTenant,
    use_connection: Any,
    tmp_path: Path,
) -> None:
    use_connection(call_log_tenant.api_key, max_retries=MAX_RETRIES, timeout=scenario.timeout)
    _extract_under(FaultRun(sandbox, scenario), call_log_tenant, tmp_path / "out")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_bulk_sms_under_faults_reaches_each_recipient_exactly_once(
    scenario: Scenario, sandbox: SandboxServer, use_connection: Any
) -> None:
    api_key = sandbox.admin.create_account(balance=10_000.0, seed=False)
    use_connection(api_key, max_retries=MAX_RETRIES, timeout=scenario.timeout)
    _send_sms_under(FaultRun(sandbox, scenario), sandbox, api_key)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_enrollment_under_faults_enrolls_each_contact_exactly_once(
    scenario: Scenario, sandbox: SandboxServer, use_connection: Any
) -> None:
    api_key = sandbox.admin.create_account(balance=10_000.0)
    use_connection(api_key, max_retries=MAX_RETRIES, timeout=scenario.timeout)
    _enroll_under(FaultRun(sandbox, scenario), sandbox, api_key)
