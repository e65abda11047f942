"""What the wait scenarios share: a sandbox whose calls last a set time, and N deferred waits.

Each scenario starts its own sandbox, with a call length fitted to it, and points the
``votel_waits`` connection at it through the REST API: a call ends ``3 * stage_seconds``
after it was started, which is when its wait's condition comes true.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from tests.e2e.rest import AirflowRest
from tests.e2e.watch import wait_until
from votel_airflow.sandbox.server import SandboxServer

DAG_ID = "e2e_deferred_waits"
WAIT_TASK = "wait_for_call"
CONN_ID = "votel_waits"
#: A sandbox call is queued, ringing, then in progress, each for ``stage_seconds``.
CALL_STAGES = 3


@contextmanager
def calls_lasting(airflow: AirflowRest, seconds: float) -> Iterator[tuple[SandboxServer, str]]:
    """A sandbox whose calls end ``seconds`` after they start, behind the ``votel_waits``
    connection; the sandbox and the connection's API key."""
    with SandboxServer(call_stage_seconds=seconds / CALL_STAGES) as sandbox:
        key = sandbox.admin.create_account(balance=10_000.0)
        airflow.set_connection(CONN_ID, "votel", sandbox.base_url, key)
        yield sandbox, key


def deferred_waits(airflow: AirflowRest, calls: int, timeout: float) -> tuple[str, float]:
    """Trigger ``calls`` waits and return once every one is deferred: run id, seconds it took.

    Fails when a wait finished before all were deferred: its call ended too soon for the test.
    """
    began = time.monotonic()
    run = airflow.trigger(DAG_ID, conf={"calls": calls})

    def all_deferred() -> bool:
        counts = airflow.state_counts(DAG_ID, run, WAIT_TASK)
        assert set(counts) <= {"deferred", "queued", "scheduled", "running", "none"}, (
            f"a wait finished before all were deferred (calls too short for this machine): {counts}"
        )
        return counts.get("deferred", 0) == calls

    wait_until(f"{calls} deferred waits", all_deferred, timeout, 2.0)
    return run, time.monotonic() - began


def call_end_times(sandbox: SandboxServer, key: str, call_ids: list[str], seconds: float) -> dict[str, float]:
    """When each call ended (POSIX time): its start plus the sandbox's call length."""
    import requests

    session = requests.Session()
    session.headers["X-API-Key"] = key
    ends = {}
    for call_id in call_ids:
        call = session.get(f"{sandbox.base_url}/activity/calls/{call_id}", timeout=30).json()
        ends[call_id] = datetime.fromisoformat(call["created_at"]).timestamp() + seconds
    return ends
