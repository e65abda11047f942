"""Scenarios 3 and 6: many calls, each awaited by its own deferred sensor in the triggerer.

The ``votel_waits`` sandbox lets a call ring for ten minutes, so a call ends when the test
cancels it: the test decides when every wait's condition comes true.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, task
from e2e_defaults import e2e_dag

from votel_airflow.sensors.calls import CallCompletedSensor

CONN_ID = "votel_waits"

with e2e_dag("e2e_deferred_waits", params={"calls": Param(200, type="integer", minimum=1, maximum=1024)}):

    @task
    def start_calls(params: dict[str, Any] | None = None, run_id: str | None = None) -> list[str]:
        """Start ``calls`` calls with the account's first agent; their ids."""
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook(CONN_ID)
        agent = hook.get("/agents")[0]["id"]
        ids = []
        for number in range((params or {})["calls"]):
            call = hook.request(
                "POST",
                f"/agents/{agent}/calls",
                json={"to": f"+1202555{number:04d}"},
                idempotency_key=f"{run_id}-{number}",
            )
            ids.append(str(call["id"]))
        return ids

    ended = CallCompletedSensor.partial(
        task_id="wait_for_call",
        votel_conn_id=CONN_ID,
        fail_on=[],
        deferrable=True,
        # Each wait starts in the triggerer (the scheduler defers it, no worker slot) and ends
        # there, pushing the call for count_endings: no worker touches the 1,000 waits.
        start_from_trigger=True,
        end_from_trigger=True,
        # The waits of the triggerer share their polls: a listing per interval, not one read each.
        poke_interval=20,
        timeout=1800,
    ).expand(call_id=start_calls())

    @task
    def count_endings(calls: list[dict[str, Any]]) -> dict[str, int]:
        """How many waits reported, and for how many distinct calls."""
        return {"reported": len(calls), "distinct": len({c["id"] for c in calls})}

    count_endings(ended.output)
