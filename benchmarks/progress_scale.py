"""Benchmark 8: a bulk send's progress at 5,000 and 100,000 recipients, run by ``dag.test()``.

Each run is ``SendSmsOperator`` (16 threads, no client rate limit) in a DAG file, run with
``dag.test()`` in a fresh child against a sandbox without a rate limit, its progress going through
Airflow 3.3's task state store into the metadata database (SQLite). Per size and variant: the
task's own duration (the task instance's, without ``dag.test()``'s start-up) per recipient, the
bytes the task wrote to the task state store over the size of its final progress, and the child's
peak RSS. ``chunked`` is the provider; ``today`` the progress of before (the whole map rewritten
on every flush), measured in the same invocation at the sizes it finishes in reasonable time.
Then a send at the larger size is SIGKILLed once the sandbox has taken half its SMS, and the same
DAG run is run again: the sandbox's message log must hold every recipient exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Figure, airflow_env, median, run_child, sandbox, votel_conn_env

NAME = "progress"
MAX_CONCURRENCY = 16
TARGET_RATIO = 1.2
TARGET_BYTES = 3.0
KILL_TIMEOUT = 3600.0


def _env(home: Path, folder: Path, base_url: str, key: str) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **votel_conn_env(base_url, key),
    }


def _migrate(home: Path) -> None:
    env = airflow_env({"AIRFLOW_HOME": str(home)})
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=env
    )


def _delivery(server: Any, key: str, count: int) -> dict[str, int]:
    per_recipient = Counter(r["recipient"] for r in server.admin.records(key, "sms"))
    return {
        "duplicates": sum(n - 1 for n in per_recipient.values()),
        "missing": count - len(per_recipient),
    }


def _one(server: Any, home: Path, variant: str, count: int, run: int) -> dict[str, Any]:
    from benchmarks.progress_variants import write_dag

    key = server.admin.create_account(balance=10_000_000.0, seed=False)
    dag_id = f"progress_{variant}_{count}_{run}"
    folder = home / "dags" / dag_id
    write_dag(str(folder), dag_id, count, MAX_CONCURRENCY)
    result = run_child(
        "benchmarks.progress_variants:send",
        {"folder": str(folder), "dag_id": dag_id, "variant": variant},
        _env(home, folder, server.base_url, key),
    )
    result.update(_delivery(server, key, count))
    return result


def _kill_and_retry(server: Any, home: Path, count: int) -> dict[str, Any]:
    """SIGKILL the send once the sandbox has taken half its SMS, then run the same DAG run again."""
    from benchmarks.progress_variants import write_dag

    key = server.admin.create_account(balance=10_000_000.0, seed=False)
    dag_id = f"progress_kill_{count}"
    folder = home / "dags" / dag_id
    write_dag(str(folder), dag_id, count, MAX_CONCURRENCY)
    env = airflow_env(_env(home, folder, server.base_url, key))
    args = {"folder": str(folder), "dag_id": dag_id, "variant": "chunked"}
    server.admin.reset_stats()
    log = home / f"{dag_id}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.child", "benchmarks.progress_variants:send", _json(args)],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + KILL_TIMEOUT
    while server.admin.stats()["paths"].get("POST /communication/sms", 0) < count // 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"the send ended before half its SMS (exit {proc.returncode}); see {log}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)
    sent_before = len(server.admin.records(key, "sms"))
    retry = run_child(
        "benchmarks.progress_variants:send", {**args, "retry": True}, _env(home, folder, server.base_url, key)
    )
    retry.update(_delivery(server, key, count))
    retry["sent_before_kill"] = sent_before
    return retry


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def run_progress(
    sizes: tuple[int, int], runs: int, today_sizes: Sequence[int], kill_size: int | None
) -> list[Figure]:
    """Both variants at each size (``today`` only at ``today_sizes``), ``runs`` times; then the kill."""
    plan = [("chunked", n) for n in sizes] + [("today", n) for n in today_sizes]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {p: [] for p in plan}
    kill: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="votel-bench-progress-") as tmp, sandbox() as server:
        home = Path(tmp)
        _migrate(home)
        for run in range(runs):
            for variant, count in plan:
                result = _one(server, home, variant, count, run)
                results[(variant, count)].append(result)
                print(
                    f"  run {run + 1}/{runs}  {variant:<8} {count:>7,}  task {result['task_seconds']:.1f}s "
                    f"(dag.test {result['wall_seconds']:.1f}s)  writes {result['store_writes']} "
                    f"{result['store_bytes'] / 2**20:.1f} MiB, "
                    f"final {result['final_progress_bytes'] / 2**20:.2f} MiB  "
                    f"rss {result['maxrss_mb']:.0f} MB  dup={result['duplicates']} "
                    f"missing={result['missing']}  {result['task_state']}",
                    flush=True,
                )
        if kill_size:
            kill = _kill_and_retry(server, home, kill_size)
            print(
                f"  kill at 50% of {kill_size:,}: {kill['sent_before_kill']} sent before the kill; retry "
                f"{kill['summary']}  dup={kill['duplicates']} missing={kill['missing']}",
                flush=True,
            )
    return _figures(results, sizes, kill, kill_size)


def _figures(
    results: dict[tuple[str, int], list[dict[str, Any]]],
    sizes: tuple[int, int],
    kill: dict[str, Any] | None,
    kill_size: int | None,
) -> list[Figure]:
    figures: list[Figure] = []
    per_recipient: dict[tuple[str, int], float] = {}
    for (variant, count), rs in results.items():
        seconds = [r["task_seconds"] for r in rs]
        per_recipient[(variant, count)] = median(seconds) / count * 1000
        ratios = [r["store_bytes"] / max(1, r["final_progress_bytes"]) for r in rs]
        headline = variant == "chunked"
        dups = max(r["duplicates"] for r in rs)
        missing = max(r["missing"] for r in rs)
        figures += [
            Figure(
                NAME, f"{variant} task seconds @ {count:,}", median(seconds), "s", samples=seconds,
                note=f"dag.test() wall {median([r['wall_seconds'] for r in rs]):.1f} s",
            ),
            Figure(NAME, f"{variant} ms per recipient @ {count:,}", per_recipient[(variant, count)], "ms"),
            Figure(
                NAME, f"{variant} state-store bytes / final progress @ {count:,}", median(ratios), "x",
                target=f"<= {TARGET_BYTES:g}" if headline else "",
                ok=median(ratios) <= TARGET_BYTES if headline else None,
                samples=ratios,
                note=(
                    f"{median([r['store_writes'] for r in rs]):.0f} writes, "
                    f"{median([r['store_bytes'] for r in rs]) / 2**20:.2f} MiB written, final "
                    f"{median([r['final_progress_bytes'] for r in rs]) / 2**20:.2f} MiB"
                ),
            ),
            Figure(
                NAME, f"{variant} peak RSS @ {count:,}", median([r["maxrss_mb"] for r in rs]), "MB",
                samples=[r["maxrss_mb"] for r in rs],
                note=f"after imports {median([r['baseline_rss_mb'] for r in rs]):.0f} MB",
            ),
            Figure(
                NAME, f"{variant} duplicate / missing SMS @ {count:,}", f"{dups} / {missing}",
                target="0 / 0", ok=dups == 0 and missing == 0,
            ),
        ]  # fmt: skip
    small, large = sizes
    for variant in ("chunked", "today"):
        if (variant, small) in per_recipient and (variant, large) in per_recipient:
            ratio = per_recipient[(variant, large)] / per_recipient[(variant, small)]
            headline = variant == "chunked"
            figures.append(
                Figure(
                    NAME, f"{variant} time per recipient {large:,} / {small:,}", ratio, "x",
                    target=f"<= {TARGET_RATIO:g}" if headline else "",
                    ok=ratio <= TARGET_RATIO if headline else None,
                )
            )  # fmt: skip
    if kill is not None and kill_size:
        summary = kill.get("summary") or {}
        figures.append(
            Figure(
                NAME, f"SIGKILL at 50% + retry @ {kill_size:,}: duplicate / missing SMS",
                f"{kill['duplicates']} / {kill['missing']}", target="0 / 0",
                ok=kill["duplicates"] == 0 and kill["missing"] == 0 and kill["task_state"] == "success",
                note=(
                    f"{kill['sent_before_kill']:,} sent before the kill; the retry resumed "
                    f"{summary.get('resumed')} and sent {summary.get('sent')} in {kill['task_seconds']:.1f} s"
                ),
            )
        )  # fmt: skip
    return figures
