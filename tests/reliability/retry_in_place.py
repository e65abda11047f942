"""Retry a killed task inside the same DAG run, the way Airflow does once it finds the worker gone.

``dag.test()`` on its own deletes an existing DAG run of the same logical date and creates a new one,
and the task state store goes with the deleted run: a second ``dag.test()`` after a SIGKILL would
start afresh, not resume. :func:`retry_the_killed_run` instead marks the killed try up for retry (what
the scheduler does when a task's heartbeat stops) and makes the next ``dag.test()`` run on in the
run that already exists, so the task's next try sees the progress the killed try stored.
"""

from __future__ import annotations

from typing import Any

import pytest


def retry_the_killed_run(dag_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Put the killed tries of ``dag_id`` up for retry; the next ``dag.test()`` keeps their DAG run.

    :param dag_id: the DAG whose run was killed (it must have exactly one run).
    :param monkeypatch: undoes the ``dag.test()`` change at the end of the test.
    :return: the id of the DAG run the retry runs in.
    """
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        (run_id,) = session.query(DagRun.run_id).filter(DagRun.dag_id == dag_id).one()
        killed = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.RUNNING
        )
        for ti in killed:
            ti.state = TaskInstanceState.UP_FOR_RETRY
            ti.end_date = pendulum.now("UTC")

    def existing_run(*, dag: Any, session: Any, **_: Any) -> Any:
        run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
        run.dag = dag
        return run

    # Airflow 3.0 names it _get_or_create_dagrun in airflow.models.dag; 3.1+ moved it to dagrun.
    try:
        from airflow.models import dagrun as module

        monkeypatch.setattr(module, "get_or_create_dagrun", existing_run)
    except AttributeError:
        from airflow.models import dag as module  # type: ignore[no-redef]

        monkeypatch.setattr(module, "_get_or_create_dagrun", existing_run)
    return str(run_id)


def try_numbers(dag_id: str, run_id: str) -> dict[str, int]:
    """``{task_id: try_number}`` of one DAG run: a retry in place shows 2 where the kill struck."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        return {ti.task_id: int(ti.try_number) for ti in tis}
