"""Run a DAG with ``dag.test()``: ``python -m tests.reliability.dag_process FOLDER DAG_ID DATE``.

The SIGKILL tests start it as a subprocess, so that killing it kills the process running the task.
"""

from __future__ import annotations

import sys

import pendulum


def main(folder: str, dag_id: str, logical_date: str) -> None:
    from airflow import settings

    from votel_airflow.compat import DagBag

    settings.DAGS_FOLDER = folder
    bag = DagBag(dag_folder=folder)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"{dag_id} not found in {folder}")
    when = pendulum.parse(logical_date)
    # A manual run's id comes from run_after: pin it too, or every run gets a new run id.
    dag.test(logical_date=when, run_after=when)


if __name__ == "__main__":
    main(*sys.argv[1:4])
