"""How a trigger that ends its task (``end_from_trigger``) hands the task's result on.

A ``TaskSuccessEvent(xcoms=...)`` is stored by the triggerer with the scheduler's XCom model,
which JSON-encodes the value once more than the Task SDK does (Airflow 3.0 to 3.3.2): a task
reading it gets the JSON text, not the dict (``ti.xcom_pull("wait")["status"]`` raises
``TypeError: string indices must be integers``). So the result is pushed as the task itself would
push it, through the Task SDK's ``XCom.set`` and the triggerer's supervisor (every minor's trigger
runner relays ``SetXCom``), and the event carries no XCom. Where that cannot be done (no task
instance on the trigger, no supervisor: ``dag.test()``, which hands the event back to the task
anyway), the event carries the value as before.
"""

from __future__ import annotations

import logging
from typing import Any

from votel_airflow.triggers.loop_log import log_aside

log = logging.getLogger(__name__)


async def push_result(task_instance: Any, key: str, value: Any) -> bool:
    """Push ``value`` under ``key`` for the trigger's task instance; False if it could not be."""
    if task_instance is None or getattr(task_instance, "run_id", None) is None:
        return False
    try:
        from airflow.sdk.execution_time.xcom import XCom
        from asgiref.sync import sync_to_async
    except ImportError:
        return False
    try:
        # A synchronous round trip to the supervisor: Airflow asks triggers to make it off the loop,
        # through asgiref (3.0-3.1 route it back to the loop with async_to_sync). Not on asgiref's
        # one shared thread: a thousand waits ending in one poll round would push one at a time,
        # each waiting for its answer (half a minute in the e2e tier); 3.2+ answers them side by side.
        await sync_to_async(XCom.set, thread_sensitive=False)(
            key,
            value,
            dag_id=task_instance.dag_id,
            task_id=task_instance.task_id,
            run_id=task_instance.run_id,
            map_index=getattr(task_instance, "map_index", -1),
        )
    except Exception as exc:
        await log_aside(
            log,
            logging.WARNING,
            "Could not push the result as the task would (%r); it goes with the event",
            exc,
        )
        return False
    return True
