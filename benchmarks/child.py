"""Entry point of a measured child process: ``python -m benchmarks.child module:function JSON``.

Prints one ``BENCH_RESULT=<json>`` line with the function's result, the peak RSS of this process
and its RSS before the work (after the imports the variant needs).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
from typing import Any

from benchmarks.common import RESULT_PREFIX


def current_rss_mb() -> float:
    """Resident set size now, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    target, raw = argv[1], argv[2]
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    kwargs: dict[str, Any] = json.loads(raw)
    prepare = getattr(module, f"prepare_{func_name}", None)
    if prepare is not None:
        prepare()  # imports the variant needs, so the baseline RSS excludes them
    baseline = current_rss_mb()
    result = getattr(module, func_name)(**kwargs)
    result["maxrss_mb"] = peak_rss_mb()
    result["baseline_rss_mb"] = baseline
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
