"""A mapped wait's own item of its upstream task's output, read once for the waits starting together.

Mapped waits that start in the triggerer (``CallCompletedSensor.partial(start_from_trigger=True)
.expand(call_id=start_calls())``) each need one call id of the upstream list. Rendering
``ti.xcom_pull(...)[ti.map_index]`` in each would read the whole list once per wait: for 1,000
waits, 1,000 reads of 1,000 ids through the execution API and the triggerer's pipes, one after
the other in its supervisor, which held the last waits back by minutes in the e2e tier. Here the
waits of one run that start while a read of the list is in flight await that same read.

A read is shared only while it is in flight, never kept: a cleared upstream that runs again hands
its new ids to the waits that start after it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from votel_airflow.exceptions import VotelMappedCallIdError

#: (dag_id, run_id, task_id, key) of an upstream output: the read of it in flight.
_Where = tuple[str, str, str, str]

# Weak: a loop closed and dropped takes its reads with it.
_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Where, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)
_reads_lock = threading.Lock()


async def upstream_item(task_instance: Any, task_id: str, key: str) -> Any:
    """Item ``task_instance.map_index`` of the output ``key`` of ``task_id`` in the wait's run.

    :param task_instance: the trigger's task instance (set by Airflow's triggerer).
    :raises LookupError: no task instance (a triggerer older than Airflow 3.3's).
    :raises VotelMappedCallIdError: the output has no such item (or is not a list).
    """
    if task_instance is None:
        raise LookupError("no task instance: only Airflow 3.3's triggerer starts a mapped wait")
    where = (task_instance.dag_id, task_instance.run_id, task_id, key)
    loop = asyncio.get_running_loop()
    with _reads_lock:
        in_flight = _reads.setdefault(loop, {})
    read = in_flight.get(where)
    if read is None:
        read = in_flight[where] = asyncio.ensure_future(_read(where))
        read.add_done_callback(
            lambda done: in_flight.pop(where, None) if in_flight.get(where) is done else None
        )
    # Shielded: a wait cancelled meanwhile must not cancel the read the others await.
    values = await asyncio.shield(read)
    index = task_instance.map_index
    if not isinstance(values, (list, tuple)) or not 0 <= index < len(values):
        raise VotelMappedCallIdError(
            wait=task_instance.task_id,
            map_index=index,
            task_id=task_id,
            key=key,
            found=len(values) if isinstance(values, (list, tuple)) else type(values).__name__,
        )
    return values[index]


async def _read(where: _Where) -> Any:
    from airflow.sdk.execution_time.xcom import XCom
    from asgiref.sync import sync_to_async

    dag_id, run_id, task_id, key = where
    # A synchronous round trip to the supervisor: Airflow asks triggers to make it off the loop.
    return await sync_to_async(XCom.get_one)(
        key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1
    )
