"""Benchmark 5: a thousand (and ten thousand) call waits in one event loop, shared against alone.

The parent starts the calls in the sandbox (they end after three stages of
``call_stage_seconds``), then a fresh child runs one ``VotelConditionTrigger`` per call as a
triggerer would, until every trigger has fired. Each run does it twice on fresh calls: ``shared``
(the triggers as they ship: the call waits of the loop share one poller) and ``alone`` (the
baseline, ``share_polls=False``: one ``GET /activity/calls/{id}`` per wait per interval).
Requests come from the sandbox's counters; requests per poll interval are the run's requests
divided by the run's length in poke intervals.
"""

from __future__ import annotations

import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env
from votel_airflow.defaults import MAX_PAGE_SIZE

NAME = "triggers"
RSS_TARGET_MB = 300.0
LAG_TARGET_MS = 100.0
CALL_PATH = "GET /activity/calls/{call_id}"
#: Listing reads a shared round may make beyond ceil(N / page): the issue's "+ 5".
CONSTANT_REQUESTS = 5
RSS_SHARED_TARGET_MB = 1024.0
LARGE_STAGE_FACTOR = 2.5


#: Calls one run can start to numbers of their own (:func:`call_number`).
MAX_CALLS = 100_000


def call_number(n: int) -> str:
    """The number call ``n`` of a run dials: distinct for every ``n`` below :data:`MAX_CALLS`, a
    valid San Francisco number, ending in 1-6 so the sandbox ends the call ``completed``.

    ``n`` fills the five digits before the last one whole (below 10,000 the number is the one the
    benchmark always dialled), so no two waits share a number and none is cut short.
    """
    if not 0 <= n < MAX_CALLS:
        raise ValueError(f"call {n}: a run starts at most {MAX_CALLS} calls to distinct numbers")
    return f"+14157{n:05d}{n % 6 + 1}"


def _start_calls(server: Any, key: str, count: int) -> list[str]:
    session = requests.Session()
    headers = {"X-API-Key": key}
    agents = session.get(server.base_url + "/agents", headers=headers, timeout=30).json()
    url = f"{server.base_url}/agents/{agents[0]['id']}/calls"

    def start(n: int) -> str:
        response = session.post(url, json={"to": call_number(n)}, headers=headers, timeout=60)
        response.raise_for_status()
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(start, range(count)))


def _run_variant(server: Any, key: str, count: int, poke_interval: float, share: bool) -> dict[str, Any]:
    call_ids = _start_calls(server, key, count)
    server.admin.reset_stats()
    # In a file: 10,000 ids outgrow a command line.
    with tempfile.NamedTemporaryFile("w", suffix=".ids") as ids:
        ids.write("\n".join(call_ids))
        ids.flush()
        result = run_child(
            "benchmarks.trigger_variants:triggers",
            {"call_ids_file": ids.name, "poke_interval": poke_interval, "timeout": 900.0, "share": share},
            votel_conn_env(server.base_url, key),
        )
    stats = server.admin.stats()
    result["requests"] = stats["requests_total"]
    result["polls"] = stats["paths"].get(CALL_PATH, 0)
    result["polls_per_s"] = result["requests"] / result["seconds"]
    result["per_interval"] = result["requests"] / (result["seconds"] / poke_interval)
    result["non_200"] = {s: n for s, n in stats["by_status"].items() if s != "200"}
    return result


def _print(run: int, runs: int, count: int, variant: str, result: dict[str, Any]) -> None:
    print(
        f"  run {run + 1}/{runs}  {count} triggers {variant:6}  {result['seconds']:.1f}s  "
        f"rss {result['maxrss_mb']:.0f} MB  max lag {result['max_lag_ms']:.0f} ms  "
        f"{result['per_interval']:.1f} requests/interval ({result['requests']} requests, "
        f"{result['polls']} single GETs)  end->event {result['event_after_end_s'] or 0:.1f}s  "
        f"{result['statuses']}  non-200 {result['non_200']}",
        flush=True,
    )


def run_trigger_scale(
    count: int,
    runs: int,
    stage_seconds: float,
    poke_interval: float,
    large: int | None = None,
    large_runs: int = 1,
) -> list[Figure]:
    """Figures for ``count`` waits (``runs`` times), and requests and RSS for ``large`` waits."""
    shared: list[dict[str, Any]] = []
    alone: list[dict[str, Any]] = []
    big: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with sandbox(seed=1, call_stage_seconds=stage_seconds) as server:
        key = server.api_keys[0]
        server.admin.set_wallet(key, 1_000_000.0)
        for run in range(runs):
            for share, samples in ((True, shared), (False, alone)):
                samples.append(_run_variant(server, key, count, poke_interval, share))
                _print(run, runs, count, "shared" if share else "alone", samples[-1])
    if large:
        # Starting 10,000 calls takes longer than a call lasts at the small size's stages: calls
        # that ended before their wait began would each cost their own GET, which is the fallback,
        # not the steady state measured here. So the calls of this size last longer.
        with sandbox(seed=1, call_stage_seconds=stage_seconds * LARGE_STAGE_FACTOR) as server:
            key = server.api_keys[0]
            server.admin.set_wallet(key, 1_000_000.0)
            for run in range(large_runs):
                for share in (True, False):
                    big[share].append(_run_variant(server, key, large, poke_interval, share))
                    _print(run, large_runs, large, "shared" if share else "alone", big[share][-1])
    figures = _loop_figures(shared, count, stage_seconds, poke_interval)
    figures += _sharing_figures(shared, alone, count, poke_interval)
    if large:
        figures += _sharing_figures(big[True], big[False], large, poke_interval)
    return figures


def _sharing_figures(
    shared: list[dict[str, Any]], alone: list[dict[str, Any]], count: int, poke_interval: float
) -> list[Figure]:
    target = math.ceil(count / MAX_PAGE_SIZE) + CONSTANT_REQUESTS
    per_interval = [s["per_interval"] for s in shared]
    per_interval_alone = [s["per_interval"] for s in alone]
    rss = [s["maxrss_mb"] for s in shared]
    rss_alone = [s["maxrss_mb"] for s in alone]
    lag = [s["event_after_end_s"] for s in shared if s["event_after_end_s"] is not None]
    lag_alone = [s["event_after_end_s"] for s in alone if s["event_after_end_s"] is not None]
    return [
        Figure(
            NAME,
            f"requests per poll interval, {count:,} waits, shared",
            median(per_interval),
            "requests",
            target=f"<= {target} (ceil(N/{MAX_PAGE_SIZE}) + {CONSTANT_REQUESTS})",
            ok=median(per_interval) <= target,
            samples=per_interval,
            chart="trigger_requests_per_interval",
            series="shared",
            x=count,
            note=f"{median([s['polls'] for s in shared]):.0f} single GETs in the run (calls ended before "
            f"their wait began); {median([s['seconds'] for s in shared]):.0f} s run",
        ),
        Figure(
            NAME,
            f"requests per poll interval, {count:,} waits, one request per wait",
            median(per_interval_alone),
            "requests",
            samples=per_interval_alone,
            note=f"the baseline; demand {count}, capped by what one loop can send",
            chart="trigger_requests_per_interval",
            series="alone",
            x=count,
        ),
        Figure(
            NAME,
            f"peak RSS, {count:,} waits, shared",
            median(rss),
            "MB",
            target=f"<= {RSS_SHARED_TARGET_MB:.0f} MB",
            ok=median(rss) <= RSS_SHARED_TARGET_MB,
            samples=rss,
            note=f"one request per wait: {median(rss_alone):.0f} MB",
            chart="trigger_peak_rss",
            series="shared",
            x=count,
        ),
        Figure(
            NAME,
            f"peak RSS, {count:,} waits, one request per wait",
            median(rss_alone),
            "MB",
            samples=rss_alone,
            note="the baseline",
            chart="trigger_peak_rss",
            series="alone",
            x=count,
        ),
        Figure(
            NAME,
            f"call end to its wait's event, {count:,} waits, shared",
            median(lag),
            "s",
            target=f"<= {2 * poke_interval:g} s (2 intervals)",
            ok=median(lag) <= 2 * poke_interval,
            samples=lag,
            note=f"median over the waits; one request per wait: {median(lag_alone):.1f} s",
        ),
    ]


def _loop_figures(
    samples: list[dict[str, Any]], count: int, stage_seconds: float, poke_interval: float
) -> list[Figure]:
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
            f"requests/s, shared (poke_interval {poke_interval:g}s)",
            median(polls),
            "requests/s",
            samples=polls,
            note=f"one request per wait would ask {count / poke_interval:.0f}/s",
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
