"""Benchmark 3: 5,000 SMS against a sandbox limited to 100 requests/s.

Ours (``SendSmsOperator`` with ``rate_limit`` = the server's limit) against the ideal ``N / R``
seconds, counting failed sends and duplicates (several SMS to one recipient, from the sandbox's
records). The baseline is a PythonOperator-style loop with naive retries, under the same limit
plus injected 500s, half of them after the SMS was already sent: each of those becomes a
duplicate when retried without an idempotency key. Ours also runs under those same faults.

At ``chart_sizes`` (smaller counts), ours and the naive loop under faults run once more each, so
the chart of time per recipient against recipients has more than one point per line.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env

NAME = "bulk_send"
SERVER_RATE = 100.0
ERROR_RATE = 0.02


def _one(server: Any, variant: str, count: int, faults: bool, max_concurrency: int) -> dict[str, Any]:
    key = server.admin.create_account(balance=1_000_000.0, seed=False)
    if faults:
        server.admin.set_faults(error_rate=ERROR_RATE, fault_seed=7)
    else:
        server.admin.clear_faults()
    server.admin.reset_stats()
    if variant == "ours":
        kwargs: dict[str, Any] = {
            "count": count,
            "rate_limit": SERVER_RATE,
            "max_concurrency": max_concurrency,
        }
    else:
        kwargs = {"count": count, "base_url": server.base_url, "api_key": key}
    result = run_child(
        f"benchmarks.bulk_send_variants:{variant}", kwargs, votel_conn_env(server.base_url, key)
    )
    server.admin.clear_faults()
    stats = server.admin.stats()
    records = server.admin.records(key, "sms")
    per_recipient = Counter(r["recipient"] for r in records)
    result["delivered_recipients"] = len(per_recipient)
    result["duplicates"] = sum(n - 1 for n in per_recipient.values())
    result["missing"] = count - len(per_recipient)
    result["requests"] = stats["requests_total"]
    result["statuses"] = stats["by_status"]
    result["injected"] = stats["faults"]
    return result


def run_bulk_send(
    count: int,
    runs: int,
    baseline_runs: int,
    max_concurrency: int = 8,
    chart_sizes: tuple[int, ...] = (),
) -> list[Figure]:
    """Ours ``runs`` times without faults (the headline); ours and the naive loop under faults
    ``baseline_runs`` times (the naive loop is sequential and slow at full scale); both once at
    each of ``chart_sizes``."""
    ideal = count / SERVER_RATE
    plan = (("ours", False), ("ours", True), ("naive", True))
    results: dict[tuple[str, bool], list[dict[str, Any]]] = {p: [] for p in plan}
    with sandbox(rate_limit=SERVER_RATE) as server:
        for run in range(runs):
            for variant, faults in plan:
                if faults and run >= baseline_runs:
                    continue
                result = _one(server, variant, count, faults, max_concurrency)
                results[(variant, faults)].append(result)
                print(
                    f"  run {run + 1}/{runs}  {variant:<5} faults={faults!s:<5} {result['seconds']:.1f}s "
                    f"missing={result['missing']} duplicates={result['duplicates']} "
                    f"statuses={result['statuses']} {result['error'][:120]}",
                    flush=True,
                )
        # {size: {variant: seconds}}; the headline size's medians are its point.
        per_size: dict[int, dict[str, list[float]]] = {
            count: {
                "ours": [r["seconds"] for r in results[("ours", False)]],
                "naive": [r["seconds"] for r in results[("naive", True)]],
            }
        }
        for size in sorted(set(chart_sizes) - {count}):
            per_size[size] = {}
            for variant, faults in (("ours", False), ("naive", True)):
                result = _one(server, variant, size, faults, max_concurrency)
                per_size[size][variant] = [result["seconds"]]
                print(
                    f"  {size:,} SMS  {variant:<5} faults={faults!s:<5} {result['seconds']:.1f}s", flush=True
                )
    figures: list[Figure] = []
    for (variant, faults), rs in results.items():
        label = f"{variant}{' +faults' if faults else ''}"
        seconds = [r["seconds"] for r in rs]
        ratio = median(seconds) / ideal
        headline = variant == "ours" and not faults
        missing = [r["missing"] for r in rs]
        dups = [r["duplicates"] for r in rs]
        figures += [
            Figure(
                NAME,
                f"{label} wall time ({count:,} SMS @ {SERVER_RATE:g}/s)",
                median(seconds),
                "s",
                samples=seconds,
            ),
            Figure(
                NAME,
                f"{label} wall / ideal {ideal:g}s",
                ratio,
                "x",
                target="<= 1.1" if headline else "",
                ok=ratio <= 1.1 if headline else None,
            ),
            Figure(
                NAME,
                f"{label} failed sends (recipients never reached)",
                max(missing),
                "",
                target="0" if variant == "ours" else "",
                ok=max(missing) == 0 if variant == "ours" else None,
                samples=missing,
            ),
            Figure(
                NAME,
                f"{label} duplicate SMS",
                max(dups),
                "",
                target="0" if variant == "ours" else "",
                ok=max(dups) == 0 if variant == "ours" else None,
                samples=dups,
            ),
            Figure(
                NAME,
                f"{label} requests / 429s / 500s",
                " / ".join(
                    f"{median([r['requests'] for r in rs]):.0f}"
                    if status == "all"
                    else f"{median([r['statuses'].get(status, 0) for r in rs]):.0f}"
                    for status in ("all", "429", "500")
                ),
                note=(rs[-1]["error"][:160] or "task succeeded") if variant == "ours" else "",
            ),
        ]
    for size, by_variant in sorted(per_size.items()):
        for variant, seconds in by_variant.items():
            label = f"{variant}{' +faults' if variant == 'naive' else ''}"
            figures.append(
                Figure(
                    NAME,
                    f"{label} ms per recipient @ {size:,}",
                    median(seconds) / size * 1000,
                    "ms",
                    chart="bulk_send_time_per_recipient",
                    series=variant,
                    x=size,
                )
            )
    return figures
