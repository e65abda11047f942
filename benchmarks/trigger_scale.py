"""Benchmark 5: a thousand ``VotelConditionTrigger`` waits for calls, in one event loop.

The parent starts the calls in the sandbox (they end after three stages of
``call_stage_seconds``), then a fresh child runs one trigger per call as a triggerer would, until
every trigger has fired. Polls per second come from the sandbox's request counters.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env

NAME = "triggers"
RSS_TARGET_MB = 300.0
LAG_TARGET_MS = 100.0
CALL_PATH = "GET /activity/calls/{call_id}"


def _start_calls(server: Any, key: str, count: int) -> list[str]:
    session = requests.Session()
    headers = {"X-API-Key": key}
    agents = session.get(server.base_url + "/agents", headers=headers, timeout=30).json()
    url = f"{server.base_url}/agents/{agents[0]['id']}/calls"

    def start(n: int) -> str:
        # Last digits 1-6 end "completed", so every wait succeeds.
        to = f"+1415700{n // 6:04d}{n % 6 + 1}"[:12] if n >= 6000 else f"+141570{n:04d}{n % 6 + 1}"
        response = session.post(url, json={"to": to}, headers=headers, timeout=60)
        response.raise_for_status()
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(start, range(count)))


def run_trigger_scale(count: int, runs: int, stage_seconds: float, poke_interval: float) -> list[Figure]:
    samples: list[dict[str, Any]] = []
    with sandbox(seed=1, call_stage_seconds=stage_seconds) as server:
        key = server.api_keys[0]
        server.admin.set_wallet(key, 1_000_000.0)
        for run in range(runs):
            call_ids = _start_calls(server, key, count)
            server.admin.reset_stats()
            result = run_child(
                "benchmarks.trigger_variants:triggers",
                {"call_ids": call_ids, "poke_interval": poke_interval, "timeout": 600.0},
                votel_conn_env(server.base_url, key),
            )
            stats = server.admin.stats()
            result["polls"] = stats["paths"].get(CALL_PATH, 0)
            result["polls_per_s"] = result["polls"] / result["seconds"]
            result["non_200"] = {s: n for s, n in stats["by_status"].items() if s != "200"}
            samples.append(result)
            print(
                f"  run {run + 1}/{runs}  {count} triggers  {result['seconds']:.1f}s  "
                f"rss {result['maxrss_mb']:.0f} MB  max lag {result['max_lag_ms']:.0f} ms  "
                f"{result['polls_per_s']:.0f} polls/s  {result['statuses']}  non-200 {result['non_200']}",
                flush=True,
            )
    rss = [s["maxrss_mb"] for s in samples]
    lag = [s["max_lag_ms"] for s in samples]
    p99 = [s["p99_lag_ms"] for s in samples]
    code_lag = [s["max_code_lag_ms"] for s in samples]
    gc_max = [s["full_gc_max_ms"] for s in samples]
    idle_gc = [s["idle_gc_ms"] for s in samples]
    polls = [s["polls_per_s"] for s in samples]
    success = [s["statuses"].get("success", 0) for s in samples]
    return [
        Figure(
            NAME,
            f"peak RSS, {count:,} triggers in one loop",
            median(rss),
            "MB",
            target=f"< {RSS_TARGET_MB:.0f} MB",
            ok=median(rss) < RSS_TARGET_MB,
            samples=rss,
            note=f"after imports {median([s['baseline_rss_mb'] for s in samples]):.0f} MB",
        ),
        Figure(
            NAME,
            "max event-loop lag",
            median(lag),
            "ms",
            target=f"< {LAG_TARGET_MS:.0f} ms",
            ok=max(lag) < LAG_TARGET_MS,
            samples=lag,
            note="target judged on the worst run",
        ),
        Figure(NAME, "p99 event-loop lag", median(p99), "ms", samples=p99),
        Figure(
            NAME,
            "max event-loop lag minus garbage collection",
            median(code_lag),
            "ms",
            target=f"< {LAG_TARGET_MS:.0f} ms",
            ok=max(code_lag) < LAG_TARGET_MS,
            samples=code_lag,
            note="what code blocked the loop; worst run judged",
        ),
        Figure(
            NAME,
            "longest full (gen-2) garbage collection",
            median(gc_max),
            "ms",
            samples=gc_max,
            note=f"{median([s['full_gc_count'] for s in samples]):.0f} in the run; the heap held "
            f"{median([s['heap_objects'] for s in samples]):,.0f} objects at the end",
        ),
        Figure(
            NAME,
            "full garbage collection before any trigger",
            median(idle_gc),
            "ms",
            samples=idle_gc,
            note="the same child, right after its imports (airflow.sdk, httpx, the trigger)",
        ),
        Figure(
            NAME,
            f"polls/s (poke_interval {poke_interval:g}s)",
            median(polls),
            "polls/s",
            samples=polls,
            note=f"demand {count / poke_interval:.0f}/s at most",
        ),
        Figure(
            NAME,
            "triggers that fired success",
            min(success),
            "",
            target=f"{count}",
            ok=min(success) == count,
            samples=success,
            note=f"time to last event {median([s['last_event_after'] for s in samples]):.1f}s "
            f"(calls end after {3 * stage_seconds:g}s)",
        ),
    ]
