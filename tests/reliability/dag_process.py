"""Run a DAG with ``dag.test()``: ``python -m tests.reliability.dag_process FOLDER DAG_ID DATE``.

The SIGKILL tests start it as a subprocess, so that killing it kills the process running the task.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pendulum


def main(folder: str, dag_id: str, logical_date: str) -> None:
    from airflow import settings

    from tests.support import run_dag

    settings.DAGS_FOLDER = folder
    when = pendulum.parse(logical_date)
    # A manual run's id comes from run_after: pin it too, or every run gets a new run id.
    # run_dag also registers the DAG's assets on Airflow 3.0, where dag.test() alone leaves them
    # inactive and the extraction (which has an outlet) fails before its first page.
    run_dag(Path(folder), dag_id, logical_date=when, run_after=when)


if __name__ == "__main__":
    main(*sys.argv[1:4])
