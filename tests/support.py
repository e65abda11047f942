"""Helpers shared by the test modules: a task context for direct ``execute()`` calls, and DAG runs."""

from __future__ import annotations

import os
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pendulum


class FakeStateStore:
    """The task state store's ``get``/``set``, in memory, to pin resume-after-retry behaviour."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = value
        self.writes += 1


@dataclass
class FakeTaskInstance:
    dag_id: str = "test_dag"
    task_id: str = "test_task"
    run_id: str = "manual__2026-11-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


#: The sandbox's "today" for the whole suite (tests/conftest.py exports it as VOTEL_SANDBOX_TODAY):
#: every sandbox the tests start seeds its recent week of logs in the 7 days before it, so a test
#: that reads that week passes whatever the machine's clock says. Its week, [June 8, June 15), is
#: clear of every other fixed window of the suite (the seed's December 2024, the e2e tier's
#: 2026-06-01, the extracts' days in 2026 from January on): those count exact rows.
SANDBOX_TODAY = pendulum.datetime(2026, 6, 15, tz="UTC")

#: The outreach policy's "now" for the whole suite (tests/conftest.py exports it as VOTEL_POLICY_NOW):
#: 18:00 UTC on SANDBOX_TODAY is 11:00 in San Francisco (the suite's +1415 numbers), 14:00 in New
#: York and 19:00 in London, inside every default send window, so sends keep their quiet hours on
#: and still go out whatever the machine's clock says. Tests of the rules fix their own instants.
POLICY_NOW = SANDBOX_TODAY.add(hours=18)

INTERVAL_START = pendulum.datetime(2026, 11, 1, tz="UTC")
INTERVAL_END = pendulum.datetime(2026, 11, 2, tz="UTC")


def make_context(
    *,
    ti: FakeTaskInstance | None = None,
    state_store: FakeStateStore | None = None,
    data_interval_start: Any = INTERVAL_START,
    data_interval_end: Any = INTERVAL_END,
    **extra: Any,
) -> dict[str, Any]:
    """A minimal execution context for calling ``operator.execute(context)`` directly."""
    ti = ti or FakeTaskInstance()
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "data_interval_start": data_interval_start,
        "data_interval_end": data_interval_end,
        "logical_date": data_interval_start,
        "params": {},
        **extra,
    }
    if state_store is not None:
        context["task_state_store"] = state_store
    return context


def make_callback_context(**extra: Any) -> dict[str, Any]:
    """A task callback's context, for calling a notifier directly: ``make_context()`` plus the DAG.

    Every caller of a task or DAG callback in Airflow 3 (the task runner, the DAG processor,
    ``dag.test()``) puts the DAG in the context, and Airflow 3.0's ``BaseNotifier`` renders with
    ``context["dag"]`` (3.1 on read it with ``.get``): a context without it is one no Airflow
    caller builds, and on 3.0 it fails inside Airflow before the notifier runs.
    """
    from airflow.sdk import DAG

    return make_context(dag=DAG("test_dag", schedule=None), **extra)


def write_dag(folder: Path, source: str, name: str = "test_dag.py") -> Path:
    """Write a DAG file (dedented) into ``folder``; ``dag.test()`` needs DAGs loaded from a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def run_dag(folder: Path, dag_id: str, **test_kwargs: Any) -> Any:
    """Load ``dag_id`` from the DAG files in ``folder`` and run it with ``dag.test()``.

    Needs the ``airflow_db`` fixture. Returns the DagRun; use ``dagrun_task_states`` for details.
    Give tasks ``retry_delay=timedelta(0)``: ``dag.test()`` really waits out retry delays.
    """
    from votel_airflow.compat import DagBag, airflow_version

    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {folder}"
    if (airflow_version() or "").startswith("3.0."):
        # Airflow 3.0's dag.test() leaves the DAG's assets inactive (the DAG processor activates
        # them), and a task with an inactive outlet fails; register the files the way it would.
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        bag.sync_to_db("dags-folder", None)
    return dag.test(**test_kwargs)


def dagrun_task_states(dagrun: Any) -> dict[str, str]:
    """``{task_id (with map index): state}`` of a finished DagRun."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dagrun.dag_id, TaskInstance.run_id == dagrun.run_id)
            .all()
        )
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in tis
        }


def task_result(dagrun: Any, task_id: str) -> Any:
    """The ``return_value`` XCom a task of a finished DagRun pushed."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id, key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)


def stale_temp_file(folder: Path, name: str, *, age_seconds: float) -> Path:
    """A temporary file of destination ``name`` as a killed writer leaves it, last touched
    ``age_seconds`` ago (negative: in the future, as a writer still writing)."""
    path = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    path.write_text('{"partial": true}\n')
    when = time.time() - age_seconds
    os.utime(path, (when, when))
    return path


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yields ``http://127.0.0.1:<port>``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def link_of(operator: Any) -> str:
    """The "View in Votel" URL the operator recorded when it ran ('' when none)."""
    from votel_airflow.links import VotelObjectLink

    return VotelObjectLink().get_link(operator, ti_key=None)  # type: ignore[arg-type]


def arm_commit_then_500(sandbox: Any, monkeypatch: Any) -> Any:
    """``arm(path_suffix)``: the next POST to a path ending so is done by the sandbox, then answered
    500 (its ``error_after`` fault), as when the server commits and the answer is lost."""
    from votel_airflow.hooks.votel import VotelHook

    original = VotelHook.request
    armed: list[str] = []

    def request(self: VotelHook, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST" and armed and path.endswith(armed[0]):
            armed.clear()
            sandbox.admin.set_faults(error_after_rate=1.0)
            try:
                return original(self, method, path, **kwargs)
            finally:
                sandbox.admin.clear_faults()
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(VotelHook, "request", request)
    return armed.append


def arm_faults_after_screening(monkeypatch: Any, admin: Any, **faults: Any) -> None:
    """Set the sandbox's ``faults`` once the outreach policy has read what it needs, so they hit the
    sends only: for tests about how the engine meets failures, where the policy's reads would
    otherwise meet them first (and rightly stop the send before anyone is reached)."""
    from votel_airflow.delivery import screening

    real = screening.screen

    def screen_then_arm(*args: Any, **kwargs: Any) -> Any:
        verdict = real(*args, **kwargs)
        admin.set_faults(**faults)
        return verdict

    monkeypatch.setattr(screening, "screen", screen_then_arm)
