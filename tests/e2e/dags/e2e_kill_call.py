"""Scenario 8: a call task waiting in its worker for a call that lasts ten minutes, to be killed.

The ``votel_kill`` connection (set through the REST API) points at a sandbox of the scenario's
own whose calls ring for ten minutes; the test marks the running task failed and watches the
call's status in Votel.
"""

from __future__ import annotations

from e2e_defaults import e2e_dag

from votel_airflow.operators.agents import StartCallOperator

with e2e_dag("e2e_kill_call"):
    StartCallOperator(
        task_id="call",
        votel_conn_id="votel_kill",
        agent_name="Sales Assistant",
        to="+14155550142",
        # Waits in the worker (not deferred): the task is running when it is marked failed.
        wait_for_completion=True,
        deferrable=False,
        poke_interval=2,
    )
