"""What every benchmark shares: figures, medians, child processes, the sandbox and a task context.

Each measured variant runs in a fresh ``python -m benchmarks.child`` process so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that variant alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH_RESULT="
CHILD_TIMEOUT = 3600.0


@dataclass
class Figure:
    """One printed line: a measured value, its unit, and the target it is judged against.

    :param benchmark: the benchmark it belongs to (``extraction``, ``bulk_send``...).
    :param name: what is measured.
    :param value: the median (or the single value) measured.
    :param unit: unit of ``value``.
    :param target: the target in words (empty when the figure is informative only).
    :param ok: whether the target is met (None when there is no target).
    :param samples: the individual runs behind a median.
    :param note: anything needed to read the figure.
    :param chart: the chart that plots it (a key of ``benchmarks.charts.CHARTS``), if any.
    :param series: the chart's line it is a point of (``ours``, ``baseline``...).
    :param x: its position along the chart's horizontal axis (rows, waits, recipients).
    """

    benchmark: str
    name: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    ok: bool | None = None
    samples: list[Any] = field(default_factory=list)
    note: str = ""
    chart: str = ""
    series: str = ""
    x: float | None = None

    def line(self) -> str:
        """The figure as one printed line."""
        value = _fmt(self.value)
        verdict = "" if self.ok is None else ("  PASS" if self.ok else "  FAIL")
        target = f"  (target {self.target})" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        samples = f"  runs={[_fmt(s) for s in self.samples]}" if len(self.samples) > 1 else ""
        return (
            f"{self.benchmark:<12} {self.name:<44} {value:>12} {self.unit:<8}{target}{verdict}{samples}{note}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def median(values: Sequence[float]) -> float:
    """The median; the machine is shared, so a median is what we quote."""
    return float(statistics.median(values))


def airflow_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for child processes: a throwaway AIRFLOW_HOME, no example DAGs, quiet logs."""
    env = dict(os.environ)
    home = Path(tempfile.gettempdir()) / "votel-bench-airflow-home"
    home.mkdir(exist_ok=True)
    env.setdefault("AIRFLOW_HOME", str(home))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    # The sends measure the engine, not the hour: judge quiet hours at 11:00 in San Francisco (the
    # benchmark numbers' zone) whatever the machine's clock says, as the test suite does.
    env.setdefault("VOTEL_POLICY_NOW", "2026-06-15T18:00:00+00:00")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run_child(target: str, kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``module:function(**kwargs)`` in a fresh interpreter; return its result dict.

    The result carries ``maxrss_mb`` (the child's peak RSS) and ``baseline_rss_mb`` (its RSS
    after imports, before the work) besides what the function returned.
    """
    cmd = [sys.executable, "-m", "benchmarks.child", target, json.dumps(dict(kwargs))]
    proc = subprocess.run(
        cmd, cwd=REPO, env=airflow_env(env), capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    raise RuntimeError(
        f"benchmark child {target} failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


@contextmanager
def sandbox(**kwargs: Any) -> Iterator[Any]:
    """A sandbox subprocess (no seed data unless asked), stopped on exit."""
    from votel_airflow.sandbox.server import SandboxServer

    kwargs.setdefault("seed", None)
    with SandboxServer(**kwargs) as server:
        yield server


def votel_conn_env(base_url: str, api_key: str, **extra: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_VOTEL_DEFAULT`` as JSON for a sandbox and a key."""
    conn = {"conn_type": "votel", "host": base_url, "password": api_key, "extra": dict(extra)}
    return {"AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(conn)}


def make_context(
    data_interval_start: Any,
    data_interval_end: Any,
    *,
    dag_id: str = "benchmark",
    task_id: str = "task",
    run_id: str = "benchmark__run",
) -> dict[str, Any]:
    """A minimal task context for ``operator.execute(context)``: the data interval and a ti."""
    import pendulum

    ti = _TaskInstance(dag_id, task_id, run_id)
    start = (
        pendulum.parse(data_interval_start) if isinstance(data_interval_start, str) else data_interval_start
    )
    end = pendulum.parse(data_interval_end) if isinstance(data_interval_end, str) else data_interval_end
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
        "params": {},
    }


class _TaskInstance:
    """The few task-instance attributes operators read (idempotency keys, XCom pushes)."""

    def __init__(self, dag_id: str, task_id: str, run_id: str) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = -1
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)
