"""Checks, under ``make test-clock``'s preloads, that the clock really moved and sleeps still work.

``python -m dev.clock_check OFFSET REAL_EPOCH``: OFFSET as libfaketime reads it (``+550d``,
``-200d``), REAL_EPOCH the machine's ``date +%s`` taken outside the preloads. Without this, a
preload the dynamic loader ignored (a wrong library path: it only warns) would leave the real clock
in place and the date-sensitive tests would pass having proven nothing; and on a libfaketime that
breaks Python's ``time.sleep`` every test that waits would fail for a reason that is not a date.
"""

from __future__ import annotations

import re
import sys
import time

#: How far the faked clock may stand from the real one plus the offset: the check starts within
#: seconds of ``date +%s``; a day of slack keeps it clear of any time zone or rounding question.
TOLERANCE_SECONDS = 24 * 3600
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def offset_seconds(offset: str) -> float:
    """Seconds of a libfaketime relative offset such as ``+550d`` or ``-200d``."""
    match = re.fullmatch(r"([+-]\d+(?:\.\d+)?)([smhdy]?)", offset)
    if match is None:
        raise SystemExit(f"clock_check: {offset!r} is not a relative offset such as +550d or -200d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2) or "s"]


def main(argv: list[str]) -> int:
    offset, real_epoch = argv[0], float(argv[1])
    expected = real_epoch + offset_seconds(offset)
    if abs(time.time() - expected) > TOLERANCE_SECONDS:
        print(
            f"clock_check: the clock reads {time.ctime()}, not the real date moved by {offset}: "
            "is libfaketime preloaded (FAKETIME_LIB)?",
            file=sys.stderr,
        )
        return 1
    try:
        time.sleep(0.01)
    except OSError as exc:
        print(
            f"clock_check: time.sleep fails under the preloads ({exc}): see dev/monotonic_sleep.c",
            file=sys.stderr,
        )
        return 1
    print(f"clock_check: the clock reads {time.ctime()} ({offset}); sleeps work")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
