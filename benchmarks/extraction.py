"""Benchmarks 1 and 2: extraction of call logs to ``jsonl.gz``, free and rate limited.

1. Ours vs ``HttpOperator`` (pagination_function) vs the fetch-only floor, at two row counts:
   rows/s, peak RSS, ours/floor, and whether our RSS stays flat as the row count grows.
2. Ours against a sandbox limited to R requests/s with page size P: throughput vs R·P, and the
   requests that failed (anything but 200 and the 429s the limit answers with).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env

NAME = "extraction"
RATE_NAME = "rate_limited"
WINDOW_DAY = 86_400
VARIANTS = ("floor", "ours", "http_operator")
RSS_TARGET_MB = 150.0
# "Flat": the larger extraction may not cost more than this over the smaller one.
FLAT_TOLERANCE_MB = 10.0
#: Seconds every answer is delayed in the remote-API variant (a round trip to a nearby region).
LATENCY = 0.02


def _window(index: int) -> tuple[str, str]:
    """A distinct one-day window per dataset, so accounts never share rows."""
    import pendulum

    start = pendulum.datetime(2026, 1, 1, tz="UTC").add(days=index)
    return start.isoformat(), start.add(days=1).isoformat()


def _http_conn_env(base_url: str) -> dict[str, str]:
    host_port = base_url.split("://", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    return {"AIRFLOW_CONN_VOTEL_HTTP": json.dumps(conn)}


def _variant(
    name: str, server: Any, key: str, since: str, until: str, page_size: int, out: Path
) -> dict[str, Any]:
    env = {**votel_conn_env(server.base_url, key), **_http_conn_env(server.base_url)}
    dest = str(out / f"{name}.jsonl.gz")
    kwargs: dict[str, Any]
    if name == "floor":
        kwargs = {"base_url": server.base_url, "api_key": key, "since": since, "until": until}
    elif name == "ours":
        kwargs = {"since": since, "until": until, "destination": dest}
    else:
        kwargs = {"since": since, "until": until, "destination": dest, "api_key": key}
    result = run_child(f"benchmarks.extraction_variants:{name}", {**kwargs, "page_size": page_size}, env)
    Path(dest).unlink(missing_ok=True)
    return result


def run_extraction(sizes: tuple[int, int], runs: int, page_size: int = 500) -> list[Figure]:
    """Benchmark 1 at two sizes (the larger one is the headline)."""
    figures: list[Figure] = []
    per_size: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with sandbox() as server, tempfile.TemporaryDirectory(prefix="votel-bench-") as tmp:
        out = Path(tmp)
        datasets = []
        for index, size in enumerate(sizes):
            key = server.admin.create_account(balance=100.0, seed=False)
            since, until = _window(index)
            started = time.perf_counter()
            server.admin.generate_call_logs(key, size, since, until)
            print(f"  generated {size:,} call logs in {time.perf_counter() - started:.1f}s", flush=True)
            datasets.append((size, key, since, until))
        for size, key, since, until in datasets:
            results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for run in range(runs):
                # Interleave the variants so a noisy neighbour hits all of them alike.
                for name in VARIANTS:
                    result = _variant(name, server, key, since, until, page_size, out)
                    if result["rows"] != size:
                        raise RuntimeError(f"{name} extracted {result['rows']} rows, expected {size}")
                    results[name].append(result)
                    print(
                        f"  {size:>9,} rows  run {run + 1}/{runs}  {name:<14} "
                        f"{size / result['seconds']:>9,.0f} rows/s  {result['maxrss_mb']:.0f} MB",
                        flush=True,
                    )
            per_size[size] = results
        # A remote API: every answer LATENCY seconds late. Reading ahead hides that wait.
        size, key, since, until = datasets[0]
        server.admin.set_faults(slow_rate=1.0, slow_seconds=LATENCY)
        remote: dict[str, list[dict[str, Any]]] = {"floor": [], "ours": []}
        for _ in range(runs):
            for name in remote:
                remote[name].append(_variant(name, server, key, since, until, page_size, out))
        server.admin.clear_faults()
    label = per_size[sizes[-1]]["ours"][0]["operator"]
    for size in sizes:
        results = per_size[size]
        for name in VARIANTS:
            rates = [size / r["seconds"] for r in results[name]]
            rss = [r["maxrss_mb"] for r in results[name]]
            figures.append(
                Figure(
                    NAME,
                    f"{name} rows/s @ {size:,}",
                    median(rates),
                    "rows/s",
                    samples=rates,
                    chart="extraction_rows_per_second",
                    series=name,
                    x=size,
                )
            )
            figures.append(
                Figure(
                    NAME,
                    f"{name} peak RSS @ {size:,}",
                    median(rss),
                    "MB",
                    target=f"< {RSS_TARGET_MB:.0f} MB" if name == "ours" else "",
                    ok=median(rss) < RSS_TARGET_MB if name == "ours" else None,
                    samples=rss,
                    note=f"after imports {median([r['baseline_rss_mb'] for r in results[name]]):.0f} MB",
                )
            )
        ratio = _ratio(results["ours"], results["floor"], size)
        figures.append(
            Figure(NAME, f"ours/floor rows/s @ {size:,}", ratio, "x", target=">= 0.9", ok=ratio >= 0.9)
        )
        figures.append(
            Figure(
                NAME,
                f"ours/HttpOperator rows/s @ {size:,}",
                _ratio(results["ours"], results["http_operator"], size),
                "x",
            )
        )
    small, large = sizes
    for name in ("ours", "http_operator"):
        growth = median([r["maxrss_mb"] for r in per_size[large][name]]) - median(
            [r["maxrss_mb"] for r in per_size[small][name]]
        )
        figures.append(
            Figure(
                NAME,
                f"{name} peak RSS growth {small:,} -> {large:,}",
                growth,
                "MB",
                target=f"<= {FLAT_TOLERANCE_MB:.0f} MB (flat)" if name == "ours" else "",
                ok=growth <= FLAT_TOLERANCE_MB if name == "ours" else None,
            )
        )
    small_size = datasets[0][0]
    latency = f"{LATENCY * 1000:.0f} ms latency"
    for name in remote:
        rates = [small_size / r["seconds"] for r in remote[name]]
        figures.append(
            Figure(NAME, f"{name} rows/s @ {small_size:,}, {latency}", median(rates), "rows/s", samples=rates)
        )
    figures.append(
        Figure(
            NAME,
            f"ours/floor rows/s @ {small_size:,}, {latency}",
            _ratio(remote["ours"], remote["floor"], small_size),
            "x",
            note="every answer delayed, as from a remote API: the read-ahead's gain",
        )
    )
    for figure in figures:
        if figure.name.startswith("ours rows/s"):
            figure.note = label
    return figures


def _ratio(ours: list[dict[str, Any]], other: list[dict[str, Any]], size: int) -> float:
    return median([size / r["seconds"] for r in ours]) / median([size / r["seconds"] for r in other])


def run_rate_limited(rows: int, rate: float, page_size: int, runs: int) -> list[Figure]:
    """Benchmark 2: ours against a sandbox that allows ``rate`` requests/s."""
    figures: list[Figure] = []
    samples: list[dict[str, Any]] = []
    with sandbox(rate_limit=rate) as server, tempfile.TemporaryDirectory(prefix="votel-bench-") as tmp:
        key = server.admin.create_account(balance=100.0, seed=False)
        since, until = _window(0)
        server.admin.generate_call_logs(key, rows, since, until)
        for run in range(runs):
            # The bucket refills between runs, so every run starts from the same full burst.
            time.sleep(1.5)
            server.admin.reset_stats()
            result = _variant("ours", server, key, since, until, page_size, Path(tmp))
            stats = server.admin.stats()
            result["stats"] = stats
            samples.append(result)
            print(
                f"  run {run + 1}/{runs}  {rows / result['seconds']:,.0f} rows/s  "
                f"statuses {stats['by_status']}",
                flush=True,
            )
    ceiling = rate * page_size
    rates = [rows / s["seconds"] for s in samples]
    pages = -(-rows // page_size) + (1 if rows % page_size == 0 else 0)
    # The bucket starts full (``rate`` tokens): those pages come free, the rest at ``rate``/s.
    paced_ideal = max(0.0, (pages - rate) / rate)
    adjusted = [paced_ideal / s["seconds"] for s in samples]
    failed = [
        sum(n for status, n in s["stats"]["by_status"].items() if status not in ("200", "429"))
        for s in samples
    ]
    limited = [s["stats"]["by_status"].get("429", 0) for s in samples]
    figures += [
        Figure(
            RATE_NAME,
            f"ours rows/s (R={rate:g}/s, P={page_size}, {rows:,} rows)",
            median(rates),
            "rows/s",
            samples=rates,
        ),
        Figure(RATE_NAME, "R*P (what the limit allows)", ceiling, "rows/s"),
        Figure(
            RATE_NAME,
            "ours / R*P",
            median(rates) / ceiling,
            "x",
            target=">= 0.9",
            ok=median(rates) / ceiling >= 0.9,
            note="includes the free initial burst of the full token bucket",
        ),
        Figure(
            RATE_NAME,
            "ours / ideal paced time (burst excluded)",
            median(adjusted),
            "x",
            target=">= 0.9",
            ok=median(adjusted) >= 0.9,
            samples=adjusted,
            note=f"ideal = ({pages} pages - {rate:g} burst) / {rate:g} per s",
        ),
        Figure(
            RATE_NAME,
            "failed requests (non-200, non-429)",
            max(failed),
            "",
            target="0",
            ok=max(failed) == 0,
            samples=failed,
        ),
        Figure(RATE_NAME, "429 answers absorbed by retries", median(limited), "", samples=limited),
    ]
    return figures
