"""The outreach policy's cost over real HTTP, at the API's rate limit.

A sandbox limited to R requests/s holds an account with N contacts (a mix of ``dnd``, SMS in
``dnd_channels`` and zones, ``admin.generate_contacts``), a 24-hour log of 2N outbound SMS to them
and, over the STOP lookback, 1.5 % of N STOP and 0.5 % START replies (``admin.generate_messages``).
Per run, each in a fresh child (its peak RSS its own), interleaved:

- ``policy``: the reads and judging a send to all N makes before its first SMS (SMS, default
  quiet hours, a cap of one a day): :func:`~votel_airflow.delivery.screening.screen` through a
  ``VotelHook``. Wall time, requests (the sandbox's count) and peak RSS.
- ``send``: ``SendSmsOperator`` sending a sample of S SMS at R on a second account (its own
  bucket, an empty CRM: its policy costs 3 requests). The send of N at the limit is then
  ``N / (S / sample time)`` seconds, from the rate measured in the same run, not ``N / R``.
- ``few`` and ``few_listed``: the same policy for 3 of the N, looked up (today) and with every
  read a listing (before), both in the same CRM.

Target: policy / send of N <= 10 %, peak RSS of the policy child < 500 MB. Medians of the runs.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env
from votel_airflow.hooks.pace_store import DIR_VARIABLE

NAME = "outreach"
#: The API's limit in these benchmarks (bulk_send's too): requests/s per key.
SERVER_RATE = 100.0
MAX_CONCURRENCY = 8
FEW = 3


def _seed(server: Any, contacts: int, log_rows: int) -> str:
    admin = server.admin
    key: str = admin.create_account(balance=1_000_000.0, seed=False)
    admin.generate_contacts(key, contacts)
    now = datetime.now(timezone.utc)  # the policy reads its log windows on the wall clock
    admin.generate_messages(key, log_rows, now - timedelta(hours=23), now - timedelta(minutes=1))
    year = now - timedelta(days=300), now - timedelta(minutes=1)
    admin.generate_messages(key, contacts * 15 // 1000, *year, direction="inbound", body="STOP")
    admin.generate_messages(key, contacts * 5 // 1000, *year, direction="inbound", body="START")
    return key


def _child(server: Any, key: str, target: str, kwargs: dict[str, Any], out: Path) -> dict[str, Any]:
    env = votel_conn_env(server.base_url, key)
    # A folder of paces per child: each starts cold, as a task on a fresh worker does.
    env[DIR_VARIABLE] = tempfile.mkdtemp(prefix="pacing-", dir=out)
    time.sleep(1.5)  # the bucket refills: every child starts from the same full burst
    server.admin.reset_stats()
    result = run_child(f"benchmarks.outreach_variants:{target}", kwargs, env)
    result["requests"] = server.admin.stats()["requests_total"]
    return result


def run_outreach(contacts: int, log_rows: int, sample: int, runs: int) -> list[Figure]:
    """``runs`` rounds of the four children against one seeded sandbox limited to SERVER_RATE."""
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in ("policy", "send", "few", "few_listed")}
    with sandbox() as server, tempfile.TemporaryDirectory(prefix="votel-bench-") as tmp:
        started = time.perf_counter()
        key = _seed(server, contacts, log_rows)
        seeded = time.perf_counter() - started
        print(f"  seeded {contacts:,} contacts and {log_rows:,} log rows in {seeded:.1f}s", flush=True)
        server.admin.set_rate_limit(SERVER_RATE)
        out = Path(tmp)
        for run in range(runs):
            sender = server.admin.create_account(balance=1_000_000.0, seed=False)
            plan: dict[str, tuple[str, str, dict[str, Any]]] = {
                "policy": (key, "policy", {"first": 0, "count": contacts}),
                "send": (sender, "send", {"count": sample, "rate_limit": SERVER_RATE,
                                          "max_concurrency": MAX_CONCURRENCY}),
                "few": (key, "policy", {"first": 1, "count": FEW}),
                "few_listed": (key, "policy", {"first": 1, "count": FEW, "look_up": False}),
            }  # fmt: skip
            for variant, (account, target, kwargs) in plan.items():
                result = _child(server, account, target, kwargs, out)
                samples[variant].append(result)
                print(
                    f"  run {run + 1}/{runs}  {variant:<10} {result['seconds']:>7.2f}s  "
                    f"{result['requests']:>6,} requests  peak RSS {result['maxrss_mb']:.0f} MB",
                    flush=True,
                )
    return _figures(samples, contacts, log_rows, sample)


def _figures(
    samples: dict[str, list[dict[str, Any]]], contacts: int, log_rows: int, sample: int
) -> list[Figure]:
    policy, send = samples["policy"], samples["send"]
    policy_s = [r["seconds"] for r in policy]
    rates = [sample / r["seconds"] for r in send]
    # Each run's ratio from its own two children, then the median of the ratios.
    ratios = [p["seconds"] / (contacts / (sample / s["seconds"])) for p, s in zip(policy, send, strict=True)]
    rss = [r["maxrss_mb"] for r in policy]
    verdict = policy[-1]
    figures = [
        Figure(NAME, f"CRM: contacts, 24 h log rows (R={SERVER_RATE:g}/s)", f"{contacts:,}, {log_rows:,}"),
        Figure(NAME, f"policy wall time, {contacts:,} recipients", median(policy_s), "s", samples=policy_s),
        Figure(NAME, "policy requests", median([r["requests"] for r in policy]), "",
               samples=[r["requests"] for r in policy]),
        Figure(NAME, f"send rate at the limit (sample of {sample:,})", median(rates), "SMS/s", samples=rates),
        Figure(NAME, f"send of {contacts:,} at that rate", contacts / median(rates), "s"),
        Figure(NAME, "policy / send", median(ratios), "x", target="<= 0.10", ok=median(ratios) <= 0.10,
               samples=ratios),
        Figure(NAME, "policy peak RSS", median(rss), "MB", target="< 500", ok=median(rss) < 500, samples=rss,
               note=f"after imports {median([r['baseline_rss_mb'] for r in policy]):.0f} MB"),
        Figure(NAME, "policy verdict", f"{verdict['send_now']:,} now, {verdict['waiting']:,} waiting, "
               + ", ".join(f"{n:,} {k}" for k, n in verdict["skipped"].items() if n)),
    ]  # fmt: skip
    for variant, label in (("few", "looked up"), ("few_listed", "listed (before)")):
        requests = [r["requests"] for r in samples[variant]]
        seconds = [r["seconds"] for r in samples[variant]]
        figures += [
            Figure(NAME, f"{FEW} recipients, {label}: requests", median(requests), "", samples=requests),
            Figure(NAME, f"{FEW} recipients, {label}: wall time", median(seconds), "s", samples=seconds),
        ]
    return figures
