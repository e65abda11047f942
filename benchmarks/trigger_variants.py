"""The trigger-scale child: many ``VotelConditionTrigger`` runs in one event loop, as a triggerer.

``share=True`` runs the triggers as they ship (call waits share the loop's poller); ``share=False``
is the baseline, every trigger polling its own call (``share_polls=False``).

A ticker task asks to wake every :data:`TICK` seconds and records how late it woke: that lateness
is the time the loop was blocked by something else (the event-loop lag). The interpreter's own
cyclic garbage collections are timed too (``gc.callbacks``), so a late tick can be told apart:
code that ran too long, or a stop-the-world collection of the whole heap.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from datetime import datetime
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


class _GcClock:
    """The (start, end) ``perf_counter`` times of every garbage collection, and the full ones."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self.full: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        self.pauses.append((self._started, now))
        if info["generation"] == 2:
            self.full.append(now - self._started)

    def within(self, start: float, end: float) -> float:
        """Seconds of collection inside ``[start, end]``."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.pauses if b > start and a < end)


async def _ticker(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    """Append (lag, start of the tick) for each tick; times from ``perf_counter``."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append((time.perf_counter() - before - TICK, before))


async def _consume(trigger: Any) -> tuple[str, float, float | None]:
    """The event's status, when it came (``perf_counter``), and seconds since the call ended."""
    async for event in trigger.run():
        value = event.payload.get("value") or {}
        ended = value.get("ended_at") if isinstance(value, dict) else None
        after_end = time.time() - datetime.fromisoformat(ended).timestamp() if ended else None
        return str(event.payload["status"]), time.perf_counter(), after_end
    return "no-event", time.perf_counter(), None


async def _main(call_ids: list[str], poke_interval: float, timeout: float, share: bool) -> dict[str, Any]:
    from votel_airflow.triggers.condition import VotelConditionTrigger

    # The baseline: one full collection of the heap as imported, before any trigger exists.
    collected = time.perf_counter()
    gc.collect()
    idle_gc_ms = (time.perf_counter() - collected) * 1000
    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []
    clock = _GcClock()
    gc.callbacks.append(clock)
    ticker = asyncio.create_task(_ticker(stop, lags))
    await asyncio.sleep(0.2)  # the ticker's first wake-ups measure an idle loop
    started = time.perf_counter()
    consumers = []
    for call_id in call_ids:
        # Airflow's triggerer yields to the loop before each trigger it creates; so do we.
        await asyncio.sleep(0)
        trigger = VotelConditionTrigger.for_condition(
            condition_for(call_id),
            votel_conn_id="votel_default",
            poke_interval=poke_interval,
            timeout=timeout,
        )
        # The triggerer builds each trigger from its serialized kwargs; so do we.
        kwargs = trigger.serialize()[1]
        if not share:
            kwargs["share_polls"] = False
        rebuilt = type(trigger)(**kwargs)
        consumers.append(asyncio.create_task(_consume(rebuilt)))
    results = await asyncio.gather(*consumers)
    finished = time.perf_counter()
    stop.set()
    await ticker
    gc.callbacks.remove(clock)
    statuses: dict[str, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    lags_ms = sorted(lag * 1000 for lag, _ in lags)
    # A tick's lag minus the collections inside it: what code (ours or the loop's) blocked.
    code_lags_ms = [(lag - clock.within(at, at + TICK + lag)) * 1000 for lag, at in lags]
    return {
        "max_code_lag_ms": max(code_lags_ms, default=0.0),
        "full_gc_count": len(clock.full),
        "full_gc_max_ms": max(clock.full, default=0.0) * 1000,
        "heap_objects": len(gc.get_objects()),
        "idle_gc_ms": idle_gc_ms,
        "seconds": finished - started,
        "statuses": statuses,
        "last_event_after": max(t for _, t, _ in results) - started,
        "event_after_end_s": statistics.median(a for _, _, a in results if a is not None)
        if any(a is not None for _, _, a in results)
        else None,
        "max_lag_ms": lags_ms[-1] if lags_ms else 0.0,
        "p99_lag_ms": lags_ms[int(len(lags_ms) * 0.99)] if lags_ms else 0.0,
        "ticks": len(lags_ms),
    }


def triggers(call_ids_file: str, poke_interval: float, timeout: float, share: bool = True) -> dict[str, Any]:
    """Run one trigger per call id (one a line of ``call_ids_file``) until each yields its event."""
    with open(call_ids_file) as lines:
        call_ids = lines.read().split()
    return asyncio.run(_main(call_ids, poke_interval, timeout, share))
