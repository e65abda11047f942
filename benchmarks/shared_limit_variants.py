"""One extract of the shared-limit benchmark, alone in a fresh child process (see ``child.py``).

Eight of these run at once, one per day of a backfill, against the same account. Each says it is
ready (its imports take a while on two cores), waits for the common start the parent then sets,
extracts its day and reports its rows and its own start and end in wall-clock time, or how it
failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: Seconds a child waits for the common start before giving up.
GO_TIMEOUT = 300.0


def prepare_extract() -> None:
    import isal.igzip  # noqa: F401
    import requests  # noqa: F401

    from votel_airflow.operators.activity import CallLogExtractOperator  # noqa: F401


def extract(since: str, until: str, destination: str, page_size: int, barrier: str) -> dict[str, Any]:
    """Extract ``[since, until)`` at the common start written to ``barrier``/go."""
    from benchmarks.common import make_context
    from votel_airflow.operators.activity import CallLogExtractOperator

    op = CallLogExtractOperator(
        task_id="extract", destination=destination, format="jsonl.gz", page_size=page_size
    )
    folder = Path(barrier)
    (folder / f"ready-{Path(destination).stem}").touch()
    go = folder / "go"
    deadline = time.monotonic() + GO_TIMEOUT
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    start_at = float(go.read_text() or 0) if go.exists() else 0.0
    time.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    try:
        manifest = op.execute(make_context(since, until))
    except Exception as exc:  # reported, so the parent counts failed tasks rather than crashing
        return {"rows": 0, "started": started, "ended": time.time(), "failed": f"{type(exc).__name__}: {exc}"}
    return {"rows": manifest["records"], "started": started, "ended": time.time(), "failed": None}
