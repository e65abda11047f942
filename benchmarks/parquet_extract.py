"""Parquet extraction at scale: throughput and peak RSS against ``jsonl.gz`` of the same rows.

N call logs are extracted by ``CallLogExtractOperator`` three ways, each in a fresh child (its
peak RSS its own), interleaved run by run: ``jsonl_gz`` (the baseline), ``parquet`` (lossless:
two passes over a local spill file) and ``parquet_first_page`` (the writer before, which fixed
the schema from the first page). Figures: rows/s, peak RSS, each relative to ``jsonl_gz``, and
the RSS growth from the smaller to the larger N (flat memory: at most 10 MB).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env
from benchmarks.extraction import FLAT_TOLERANCE_MB, _window

NAME = "parquet"
VARIANTS = ("jsonl_gz", "parquet", "parquet_first_page")


def run_parquet(sizes: tuple[int, int], runs: int, page_size: int = 500) -> list[Figure]:
    """The benchmark at two sizes; the larger is the headline (1,000,000 rows at full scale)."""
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with sandbox() as server, tempfile.TemporaryDirectory(prefix="votel-bench-") as tmp:
        for index, size in enumerate(sizes):
            key = server.admin.create_account(balance=100.0, seed=False)
            since, until = _window(index)
            server.admin.generate_call_logs(key, size, since, until)
            env = votel_conn_env(server.base_url, key)
            per_variant: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for run in range(runs):
                for variant in VARIANTS:  # interleaved: a noisy neighbour hits all alike
                    dest = Path(tmp) / f"{variant}.out"
                    kwargs = {"variant": variant, "since": since, "until": until, "page_size": page_size}
                    result = run_child(
                        "benchmarks.parquet_variants:extract", {**kwargs, "destination": str(dest)}, env
                    )
                    dest.unlink(missing_ok=True)
                    if result["rows"] != size:
                        raise RuntimeError(f"{variant} extracted {result['rows']} rows, expected {size}")
                    per_variant[variant].append(result)
                    print(
                        f"  {size:>9,} rows  run {run + 1}/{runs}  {variant:<20} "
                        f"{size / result['seconds']:>9,.0f} rows/s  {result['maxrss_mb']:.0f} MB  "
                        f"{result['bytes'] / 2**20:.0f} MiB",
                        flush=True,
                    )
                    time.sleep(0.2)
            results[size] = per_variant
    return _figures(sizes, results)


def _figures(sizes: tuple[int, int], results: dict[int, dict[str, list[dict[str, Any]]]]) -> list[Figure]:
    figures: list[Figure] = []
    for size in sizes:
        base_rate = median([size / r["seconds"] for r in results[size]["jsonl_gz"]])
        base_rss = median([r["maxrss_mb"] for r in results[size]["jsonl_gz"]])
        for variant in VARIANTS:
            runs = results[size][variant]
            rates = [size / r["seconds"] for r in runs]
            rss = [r["maxrss_mb"] for r in runs]
            figures += [
                Figure(NAME, f"{variant} rows/s @ {size:,}", median(rates), "rows/s", samples=rates),
                Figure(
                    NAME,
                    f"{variant} peak RSS @ {size:,}",
                    median(rss),
                    "MB",
                    samples=rss,
                    note=f"after imports {median([r['baseline_rss_mb'] for r in runs]):.0f} MB; "
                    f"file {median([r['bytes'] for r in runs]) / 2**20:.0f} MiB",
                ),
            ]
            if variant != "jsonl_gz":
                figures += [
                    Figure(NAME, f"{variant}/jsonl_gz rows/s @ {size:,}", median(rates) / base_rate, "x"),
                    Figure(NAME, f"{variant}/jsonl_gz peak RSS @ {size:,}", median(rss) / base_rss, "x"),
                ]
    small, large = sizes
    for variant in VARIANTS:
        growth = median([r["maxrss_mb"] for r in results[large][variant]]) - median(
            [r["maxrss_mb"] for r in results[small][variant]]
        )
        lossless = variant == "parquet"
        figures.append(
            Figure(
                NAME,
                f"{variant} peak RSS growth {small:,} -> {large:,}",
                growth,
                "MB",
                target=f"<= {FLAT_TOLERANCE_MB:.0f} MB (flat)" if lossless else "",
                ok=growth <= FLAT_TOLERANCE_MB if lossless else None,
            )
        )
    return figures
