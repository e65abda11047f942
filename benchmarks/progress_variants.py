"""One bulk send of the progress benchmark, run with ``dag.test()`` in a fresh child (see ``child.py``).

The task is ``SendSmsOperator`` in a DAG file, run by ``dag.test()`` the way Airflow runs it:
its progress goes through the task state store (Airflow 3.3) into the metadata database. The
child counts what the task writes there (``TaskStateStoreAccessor.set``: calls and bytes of
JSON), and afterwards reads the stored progress back from the database to measure its final
size. Variants:

- ``chunked``: the provider as it is (each flush appends the items finished since the last one);
- ``today``: the same operator with the progress of before (:class:`WholeMapProgress`, the whole
  ``{recipient: message id}`` map rewritten on every flush), patched in for this child only.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.bulk_send_variants import BODY, recipients
from votel_airflow.delivery.idempotency import TaskProgress

LOGICAL_DATE = "2026-10-05T00:00:00+00:00"
PROGRESS_NAME = "votel_send_sms"

DAG_FILE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from votel_airflow.operators.communication import SendSmsOperator

with DAG(
    "{dag_id}",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={{"retries": 1, "retry_delay": timedelta(0)}},
):
    SendSmsOperator(
        task_id="send",
        to={numbers!r},
        body={body!r},
        rate_limit=None,
        max_concurrency={max_concurrency},
    )
"""


class WholeMapProgress(TaskProgress):
    """The progress of before (kept here to measure it): every flush rewrites the whole map.

    Only the flush differs from :class:`~votel_airflow.delivery.idempotency.TaskProgress` (which reads a
    whole map written this way first, so loading needs no override)."""

    def flush(self) -> None:
        from votel_airflow.delivery.idempotency import _never_expire

        if self._store is not None and self._unflushed:
            self._store.set(self._name, dict(self._done), retention=_never_expire())
        self._unflushed = {}
        self._last_flush = time.monotonic()


def write_dag(folder: str, dag_id: str, count: int, max_concurrency: int) -> None:
    """The DAG file of one run: ``count`` recipients, no client rate limit."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    source = DAG_FILE.format(
        dag_id=dag_id, numbers=recipients(count), body=BODY, max_concurrency=max_concurrency
    )
    (path / f"{dag_id}.py").write_text(textwrap.dedent(source))


def prepare_send() -> None:
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401

    from votel_airflow.compat import DagBag  # noqa: F401
    from votel_airflow.delivery.engine import send_each  # noqa: F401
    from votel_airflow.operators.communication import SendSmsOperator  # noqa: F401


def send(folder: str, dag_id: str, variant: str, retry: bool = False) -> dict[str, Any]:
    """Run the DAG of ``folder``/``dag_id`` with ``dag.test()``; what it wrote and how long it took.

    With ``retry`` the DAG run a killed child left is run on, as Airflow does once it finds the
    task's worker gone: the task instance goes up for retry and its next try runs with the same
    task state store (``dag.test()`` alone would delete the run, and its store, and start afresh).
    """
    from airflow import settings
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor

    from votel_airflow.compat import DagBag
    from votel_airflow.delivery import engine

    if variant == "today":
        engine.TaskProgress = WholeMapProgress  # type: ignore[misc,assignment]
    writes = {"calls": 0, "bytes": 0}
    original_set = TaskStateStoreAccessor.set

    def counting_set(self: Any, key: str, value: Any, *, retention: Any = None) -> None:
        writes["calls"] += 1
        writes["bytes"] += len(json.dumps(value))  # what the execution API stores
        original_set(self, key, value, retention=retention)

    TaskStateStoreAccessor.set = counting_set  # type: ignore[method-assign]
    if retry:
        _resume_the_killed_run(dag_id)
    settings.DAGS_FOLDER = folder
    bag = DagBag(dag_folder=folder)
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"{dag_id} not found in {folder}: {bag.import_errors}")
    import pendulum

    when = pendulum.parse(LOGICAL_DATE)
    started = time.perf_counter()
    dagrun = dag.test(logical_date=when, run_after=when)
    wall = time.perf_counter() - started
    ti = _task_instance(dag_id)
    return {
        "wall_seconds": wall,
        "task_seconds": float(ti["duration"] or 0.0),
        "state": str(dagrun.state),
        "task_state": ti["state"],
        "store_writes": writes["calls"],
        "store_bytes": writes["bytes"],
        "final_progress_bytes": len(json.dumps(stored(dag_id))),
        "summary": _summary(dag_id),
    }


def _resume_the_killed_run(dag_id: str) -> None:
    """Mark the killed try up for retry and make ``dag.test()`` run on in that DAG run."""
    from airflow.models import dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id):
            if ti.state == TaskInstanceState.RUNNING:
                ti.state = TaskInstanceState.UP_FOR_RETRY
                ti.end_date = pendulum_now()

    def existing_run(*, dag: Any, run_id: str, session: Any, **_: Any) -> Any:
        run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
        run.dag = dag
        return run

    dagrun_module.get_or_create_dagrun = existing_run  # type: ignore[assignment]


def pendulum_now() -> Any:
    import pendulum

    return pendulum.now("UTC")


def _task_instance(dag_id: str) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id).one()
        return {"duration": ti.duration, "state": str(ti.state)}


class _Rows:
    """The stored rows of one task as a read-only progress store."""

    def __init__(self, rows: dict[str, Any]) -> None:
        self.rows = rows

    def get(self, key: str, default: Any = None) -> Any:
        return self.rows.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        raise NotImplementedError("read only")


def stored(dag_id: str) -> dict[str, Any]:
    """The send's progress as the metadata database holds it (chunks merged, or the whole map)."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    from votel_airflow.delivery.idempotency import stored_progress

    with create_session() as session:
        rows = {
            row.key: json.loads(row.value)
            for row in session.query(TaskStateStoreModel).filter(TaskStateStoreModel.dag_id == dag_id)
        }
    return stored_progress(_Rows(rows), PROGRESS_NAME)


def _summary(dag_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_id, XComModel.task_id == "send", XComModel.key == "return_value")
            .one_or_none()
        )
        value = XComModel.deserialize_value(row) if row is not None else None
    if not isinstance(value, dict):
        return {}
    return {k: value.get(k) for k in ("sent", "resumed", "failed", "message_ids_truncated")}
