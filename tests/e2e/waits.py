"""What the wait scenarios share: N deferred waits on calls that end when the test says so.

The ``votel_waits`` connection (set through the REST API) points at a sandbox of the scenario's
own whose calls ring for an hour. When the test says so, the sandbox's admin API shortens every
call's stages to a fraction of a second: to its clients every call has just ended. (A call's
status follows from its start time and the stage length the sandbox runs with.)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.rest import AirflowRest
from tests.e2e.watch import wait_until
from votel_airflow.sandbox.server import SandboxServer

DAG_ID = "e2e_deferred_waits"
WAIT_TASK = "wait_for_call"
CONN_ID = "votel_waits"
RINGING_STAGE_SECONDS = 1200.0
ENDED_STAGE_SECONDS = 0.01


class CallsOnDemand:
    """A sandbox whose calls last until :meth:`end_all_calls`.

    :param db: the SQLite file the sandbox keeps its state in.
    """

    def __init__(self, db: str) -> None:
        self.server = SandboxServer(db=db, call_stage_seconds=RINGING_STAGE_SECONDS).start()
        self.key = self.server.admin.create_account(balance=10_000.0)

    def end_all_calls(self) -> float:
        """Make every call instant; the POSIX time from which every call has ended.

        The sandbox stays up: restarting it failed the waits' next poll, which then backed off.
        """
        self.server.admin.set_call_stage(ENDED_STAGE_SECONDS)
        return time.time()

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def calls_on_demand(airflow: AirflowRest) -> Iterator[CallsOnDemand]:
    """A :class:`CallsOnDemand` behind the ``votel_waits`` connection, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="votel-e2e-waits-") as folder:
        sandbox = CallsOnDemand(str(Path(folder) / "sandbox.sqlite"))
        try:
            airflow.set_connection(CONN_ID, "votel", sandbox.server.base_url, sandbox.key)
            yield sandbox
        finally:
            sandbox.stop()


def deferred_waits(airflow: AirflowRest, calls: int, timeout: float) -> tuple[str, float]:
    """Trigger ``calls`` waits and return once every one is deferred: run id, seconds it took."""
    began = time.monotonic()
    run = airflow.trigger(DAG_ID, conf={"calls": calls})

    def all_deferred() -> bool:
        counts = airflow.state_counts(DAG_ID, run, WAIT_TASK)
        assert set(counts) <= {"deferred", "queued", "scheduled", "running", "none"}, counts
        return counts.get("deferred", 0) == calls

    wait_until(f"{calls} deferred waits", all_deferred, timeout, 2.0)
    return run, time.monotonic() - began


def waits_polling(airflow_home: Path, run_id: str) -> int:
    """How many of the run's waits have had their first answer in the triggerer.

    A deferred task's trigger may not be running yet: the triggerer starts the waits it is handed
    over a while. Each wait logs its first answer (``Waiting: ...``, at INFO) in its trigger log.
    """
    task = airflow_home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={WAIT_TASK}"
    return sum("Waiting: " in log.read_text(errors="replace") for log in task.glob("*/*.trigger.*.log"))
