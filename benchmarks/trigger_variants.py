"""The trigger-scale child: many ``VotelConditionTrigger`` runs in one event loop, as a triggerer.

A ticker task asks to wake every :data:`TICK` seconds and records how late it woke: that lateness
is the time the loop was blocked by something else (the event-loop lag).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

TICK = 0.01


def condition_for(call_id: str) -> Any:
    """``CallCompletedCondition`` for one call (the condition ``CallCompletedSensor`` defers with)."""
    from votel_airflow.sensors.calls import CallCompletedCondition

    return CallCompletedCondition(call_id=call_id)


def prepare_triggers() -> None:
    import httpx  # noqa: F401

    from votel_airflow.sensors.calls import CallCompletedCondition  # noqa: F401
    from votel_airflow.triggers.condition import VotelConditionTrigger  # noqa: F401


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(TICK)
        lags.append(loop.time() - before - TICK)


async def _consume(trigger: Any) -> tuple[str, float]:
    async for event in trigger.run():
        return str(event.payload["status"]), time.perf_counter()
    return "no-event", time.perf_counter()


async def _main(call_ids: list[str], poke_interval: float, timeout: float) -> dict[str, Any]:
    from votel_airflow.triggers.condition import VotelConditionTrigger

    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lags))
    await asyncio.sleep(0.2)  # the ticker's first wake-ups measure an idle loop
    started = time.perf_counter()
    triggers = [
        VotelConditionTrigger.for_condition(
            condition_for(call_id),
            votel_conn_id="votel_default",
            poke_interval=poke_interval,
            timeout=timeout,
        )
        for call_id in call_ids
    ]
    # The triggerer builds each trigger from its serialized kwargs; so do we.
    rebuilt = [type(t)(**t.serialize()[1]) for t in triggers]
    results = await asyncio.gather(*(_consume(t) for t in rebuilt))
    finished = time.perf_counter()
    stop.set()
    await ticker
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    lags_ms = sorted(lag * 1000 for lag in lags)
    return {
        "seconds": finished - started,
        "statuses": statuses,
        "last_event_after": max(t for _, t in results) - started,
        "max_lag_ms": lags_ms[-1] if lags_ms else 0.0,
        "p99_lag_ms": lags_ms[int(len(lags_ms) * 0.99)] if lags_ms else 0.0,
        "ticks": len(lags_ms),
    }


def triggers(call_ids: list[str], poke_interval: float, timeout: float) -> dict[str, Any]:
    """Run one trigger per call id until each yields its event."""
    return asyncio.run(_main(call_ids, poke_interval, timeout))
