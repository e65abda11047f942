"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--only NAME] [--runs N]``.

Prints one line per figure, writes ``benchmarks/results/latest.json``, the results table of
``benchmarks/README.md`` and the charts (``benchmarks/charts.py``); ``--charts-only`` redraws the
charts from the saved results without running anything. Every comparison is made within one
invocation, as a median of runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.charts import redraw
from benchmarks.common import REPO, Figure
from benchmarks.report import machine, write_readme

RESULTS = REPO / "benchmarks" / "results" / "latest.json"


@dataclass(frozen=True)
class Scale:
    """Sizes of one invocation: full (the issue's figures) or quick (a smoke-sized run)."""

    extraction_sizes: tuple[int, int]
    shared_rows_per_day: int
    rate_rows: int
    rate_limit: float
    rate_page_size: int
    sms: int
    parse_samples: int
    triggers: int
    trigger_stage_seconds: float
    trigger_poke_interval: float
    runs: int
    baseline_runs: int
    # The progress benchmark: both sizes, the sizes the progress of before is measured at (it
    # grows with the square of the recipients), and the size killed at 50 % and retried.
    progress_sizes: tuple[int, int] = (5_000, 100_000)
    progress_today_sizes: tuple[int, ...] = (5_000, 20_000)
    progress_kill_size: int = 100_000
    # Waits measured once more, shared against one request per wait (requests, RSS), if any.
    trigger_large: int | None = None
    # The shared limit again at a tighter limit and smaller pages: rows per day, R, P.
    shared_tight: tuple[int, float, int] = (3_750, 10.0, 50)
    # The outreach policy: contacts (= recipients), 24 h log rows, SMS in the send's sample.
    outreach: tuple[int, int, int] = (100_000, 200_000, 5_000)
    # Smaller bulk sends, once each, for the chart of time per recipient against recipients.
    sms_chart_sizes: tuple[int, ...] = ()
    # CRM sizes one thread message is sent in (requests: read by id against listed).
    thread_sizes: tuple[int, ...] = (1_000, 10_000)


FULL = Scale(
    (100_000, 1_000_000), 15_000, 60_000, 20.0, 200, 5_000, 20, 1_000, 8.0, 5.0, 3, 1, trigger_large=10_000,
    sms_chart_sizes=(500, 1_000, 2_000),
)  # fmt: skip
QUICK = Scale(
    (20_000, 100_000), 5_000, 20_000, 20.0, 100, 500, 5, 200, 2.0, 1.0, 3, 1,
    progress_sizes=(1_000, 10_000), progress_today_sizes=(1_000, 10_000), progress_kill_size=10_000,
    shared_tight=(1_250, 10.0, 50), outreach=(20_000, 40_000, 1_000), sms_chart_sizes=(100, 250),
)  # fmt: skip
TOY = Scale(
    (300, 1_200), 400, 600, 20.0, 50, 20, 1, 5, 0.2, 0.2, 1, 1,
    progress_sizes=(100, 400), progress_today_sizes=(100,), progress_kill_size=400,
    shared_tight=(100, 10.0, 50), outreach=(500, 1_000, 50), sms_chart_sizes=(10,),
    thread_sizes=(100, 600),
)  # fmt: skip


def _benchmarks(scale: Scale, runs: int) -> dict[str, Callable[[], list[Figure]]]:
    from benchmarks import (
        bulk_send,
        extraction,
        outreach,
        parquet_extract,
        parse_cost,
        progress_scale,
        shared_limit,
        thread_message,
        trigger_scale,
    )

    return {
        "extraction": lambda: extraction.run_extraction(scale.extraction_sizes, runs),
        "parquet": lambda: parquet_extract.run_parquet(scale.extraction_sizes, runs),
        "rate_limited": lambda: extraction.run_rate_limited(
            scale.rate_rows, scale.rate_limit, scale.rate_page_size, runs
        ),
        "shared_limit": lambda: shared_limit.run_shared_limit(
            scale.shared_rows_per_day, scale.rate_limit, scale.rate_page_size, runs
        ),
        "shared_limit_tight": lambda: shared_limit.run_shared_limit(
            *scale.shared_tight, runs, name="shared_limit_tight"
        ),
        "bulk_send": lambda: bulk_send.run_bulk_send(
            scale.sms, runs, min(runs, scale.baseline_runs), chart_sizes=scale.sms_chart_sizes
        ),
        "progress": lambda: progress_scale.run_progress(
            scale.progress_sizes, runs, scale.progress_today_sizes, scale.progress_kill_size
        ),
        "parse_cost": lambda: parse_cost.run_parse_cost(scale.parse_samples),
        "outreach": lambda: outreach.run_outreach(*scale.outreach, runs),
        "thread_message": lambda: thread_message.run_thread_message(scale.thread_sizes, runs),
        "triggers": lambda: trigger_scale.run_trigger_scale(
            scale.triggers,
            runs,
            scale.trigger_stage_seconds,
            scale.trigger_poke_interval,
            large=scale.trigger_large,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--toy", action="store_true", help=argparse.SUPPRESS)  # the smoke test's scale
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark (repeatable)")
    parser.add_argument("--runs", type=int, default=None, help="runs per variant (median quoted)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results and README alone")
    parser.add_argument(
        "--charts-only", action="store_true", help="redraw the charts from the saved results; run nothing"
    )
    args = parser.parse_args(argv)
    if args.charts_only:
        if not RESULTS.exists():
            parser.error(f"{RESULTS} does not exist yet: run the benchmarks first")
        for path in redraw(json.loads(RESULTS.read_text())["benchmarks"]):
            print(path.relative_to(REPO), flush=True)
        return 0
    scale = TOY if args.toy else QUICK if args.quick else FULL
    runs = args.runs or scale.runs
    benchmarks = _benchmarks(scale, runs)
    unknown = sorted(set(args.only) - set(benchmarks))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(benchmarks)}")
    selected = args.only or list(benchmarks)
    figures: list[Figure] = []
    started = time.time()
    for name in selected:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        result = benchmarks[name]()
        for figure in result:
            print(figure.line(), flush=True)
        print(f"   ({time.perf_counter() - t0:.0f}s)", flush=True)
        figures += result
        if not args.no_write:
            # Written after each benchmark, so a long run interrupted later keeps what it measured.
            report: dict[str, Any] = {
                "command": " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)]),
                "scale": "toy" if args.toy else "quick" if args.quick else "full",
                "runs": runs,
                "machine": machine(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "seconds": round(time.perf_counter() - t0, 1),
                "figures": [f.as_dict() for f in result],
            }
            _merge_write(report, [name])
    return 0


def _merge_write(report: dict[str, Any], selected: list[str]) -> None:
    """Replace the selected benchmarks' figures in latest.json (others stay), then the README."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs: dict[str, Any] = previous.get("benchmarks", {})
    for name in selected:
        runs[name] = {
            key: report[key] for key in ("command", "scale", "runs", "machine", "started", "seconds")
        } | {"figures": [f for f in report["figures"] if _benchmark_of(f) == name]}
    RESULTS.write_text(json.dumps({"benchmarks": runs}, indent=2) + "\n")
    write_readme(runs)
    redraw(runs)


def _benchmark_of(figure: dict[str, Any]) -> str:
    return str(figure["benchmark"])


if __name__ == "__main__":
    sys.exit(main())
