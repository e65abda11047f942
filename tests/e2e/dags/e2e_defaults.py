"""What every scenario DAG shares: run only when triggered, no catch-up, tagged ``e2e``.

Not a DAG itself; the scenario DAGs import it from the DAGs folder (on ``sys.path`` in every
Airflow process that parses or runs them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def e2e_dag(dag_id: str, *, retries: int = 0, retry_delay: float = 5.0, **kwargs: Any) -> DAG:
    """A triggered-only DAG of the e2e tier.

    :param dag_id: the DAG's id.
    :param retries: the tasks' retries.
    :param retry_delay: seconds between tries.
    :param kwargs: further ``DAG`` arguments (``params``, ...).
    """
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(seconds=retry_delay)},
        tags=["e2e"],
        **kwargs,
    )
