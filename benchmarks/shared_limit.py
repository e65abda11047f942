"""One account, one pace: eight concurrent extracts (a backfill of 8 days) under one rate limit.

The sandbox allows R requests/s per API key; eight children extract one day each of the same
account at once, with page size P. ``today`` is the hook without adaptive pacing (the connection
extra ``adaptive_pacing: false``): each task meets the limit alone, retries each 429 after its
``Retry-After`` and gives up after ``max_retries``. ``adaptive`` is the default: each process
paces itself from the 429s (``votel_airflow/hooks/pacing.py``). Both run in the same invocation,
interleaved. Figures: aggregate rows/s (all rows over first start to last end) against R*P
(target >= 0.85), the share of requests answered 429 (target <= 5 %), and failed tasks (target 0).
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env
from votel_airflow.hooks.pace_store import DIR_VARIABLE

NAME = "shared_limit"
VARIANTS = {"today": False, "adaptive": True}
TASKS = 8
#: Seconds the children get to import Airflow and the operator and say they are ready.
READY_TIMEOUT = 120.0


def _days() -> list[tuple[str, str]]:
    import pendulum

    first = pendulum.datetime(2026, 3, 1, tz="UTC")
    return [(first.add(days=d).isoformat(), first.add(days=d + 1).isoformat()) for d in range(TASKS)]


def _one_run(server: Any, key: str, adaptive: bool, page_size: int, out: Path) -> dict[str, Any]:
    env = votel_conn_env(server.base_url, key, adaptive_pacing=adaptive)
    barrier = Path(tempfile.mkdtemp(prefix="barrier-", dir=out))
    # A folder of shared paces per run: every run starts cold, as a backfill's first tasks do,
    # not with the pace the run before learned.
    env[DIR_VARIABLE] = tempfile.mkdtemp(prefix="pacing-", dir=out)
    server.admin.reset_stats()

    def child(index: int, window: tuple[str, str]) -> dict[str, Any]:
        kwargs = {
            "since": window[0],
            "until": window[1],
            "destination": str(out / f"day{index}.jsonl.gz"),
            "page_size": page_size,
            "barrier": str(barrier),
        }
        return run_child("benchmarks.shared_limit_variants:extract", kwargs, env)

    with ThreadPoolExecutor(TASKS) as pool:
        futures = [pool.submit(child, i, day) for i, day in enumerate(_days())]
        # Every child imported and ready: then one common start, so all eight meet the limit at once.
        deadline = time.monotonic() + READY_TIMEOUT
        while len(list(barrier.glob("ready-*"))) < TASKS and time.monotonic() < deadline:
            time.sleep(0.05)
        start_at = time.time() + 0.5
        (barrier / "go.tmp").write_text(repr(start_at))
        (barrier / "go.tmp").rename(barrier / "go")
        results = [f.result() for f in futures]
    stats = server.admin.stats()
    by_status = stats["by_status"]
    requests = sum(by_status.values())
    rows = sum(r["rows"] for r in results)
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {
        "rows": rows,
        "rows_per_s": rows / span,
        "share_429": by_status.get("429", 0) / max(requests, 1),
        "requests": requests,
        "failed": [r["failed"] for r in results if r["failed"]],
        "late_start": max(r["started"] for r in results) - start_at,
        "ends": sorted(round(r["ended"] - start_at, 1) for r in results),
    }


def run_shared_limit(
    rows_per_day: int, rate: float, page_size: int, runs: int, name: str = NAME
) -> list[Figure]:
    """The benchmark: ``runs`` rounds of both variants, interleaved, its figures under ``name``
    (``shared_limit`` at R = 20/s, P = 200; ``shared_limit_tight`` at R = 10/s, P = 50, where a
    request brings a quarter of the rows and the same start-up 429s weigh twice as much)."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with sandbox(rate_limit=rate) as server, tempfile.TemporaryDirectory(prefix="votel-bench-") as tmp:
        key = server.admin.create_account(balance=100.0, seed=False)
        for since, until in _days():
            server.admin.generate_call_logs(key, rows_per_day, since, until)
        for run in range(runs):
            for variant, adaptive in VARIANTS.items():
                time.sleep(1.5)  # the bucket refills: every run starts from the same full burst
                result = _one_run(server, key, adaptive, page_size, Path(tmp))
                if result["rows"] != rows_per_day * TASKS and not result["failed"]:
                    raise RuntimeError(f"{variant}: {result['rows']} rows, expected {rows_per_day * TASKS}")
                samples[variant].append(result)
                print(
                    f"  run {run + 1}/{runs}  {variant:<9} {result['rows_per_s']:>8,.0f} rows/s  "
                    f"429s {result['share_429']:.1%} of {result['requests']:,}  "
                    f"failed tasks {len(result['failed'])}  (last start +{result['late_start']:.2f}s, "
                    f"ends {result['ends']})",
                    flush=True,
                )
    ceiling = rate * page_size
    figures = [
        Figure(name, f"R*P (R={rate:g}/s, P={page_size}, {TASKS} x {rows_per_day:,} rows)", ceiling, "rows/s")
    ]
    for variant in VARIANTS:
        runs_of = samples[variant]
        adaptive = VARIANTS[variant]
        rates = [r["rows_per_s"] for r in runs_of]
        shares = [r["share_429"] for r in runs_of]
        failed = [len(r["failed"]) for r in runs_of]
        ratio = median(rates) / ceiling
        figures += [
            Figure(name, f"{variant} aggregate rows/s", median(rates), "rows/s", samples=rates),
            Figure(
                name,
                f"{variant} aggregate / R*P",
                ratio,
                "x",
                target=">= 0.85" if adaptive else "",
                ok=ratio >= 0.85 if adaptive else None,
            ),
            Figure(
                name,
                f"{variant} 429 share of requests",
                median(shares),
                "",
                target="<= 0.05" if adaptive else "",
                ok=median(shares) <= 0.05 if adaptive else None,
                samples=shares,
            ),
            Figure(
                name,
                f"{variant} failed tasks (of {TASKS})",
                max(failed),
                "",
                target="0" if adaptive else "",
                ok=max(failed) == 0 if adaptive else None,
                samples=failed,
                note=next((r["failed"][0][:120] for r in runs_of if r["failed"]), ""),
            ),
        ]
    return figures
