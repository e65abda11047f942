"""The outreach policy's own cost for a large send: ``python -m benchmarks.outreach_policy``.

Screens 100,000 recipients against 100,000 contacts (every one listed, since quiet hours need
their zones), 2,000 STOP-or-START replies and a 24-hour window of 200,000 outbound messages (a
frequency cap), served from memory in pages of 500 as the API would. Reports the CPU time of the
judging, its peak memory (tracemalloc, Python allocations) and the requests the reads cost; the
requests' time at a given rate limit is arithmetic, set against the send's own requests.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.delivery.local_time import number_zones
from votel_airflow.delivery.policy import resolve_policy
from votel_airflow.delivery.screening import screen

RECIPIENTS = 100_000
LOG_ROWS = 200_000
REPLIES = 2_000
#: Requests per second the account may make, for the arithmetic (a send's rate).
RATE = 10.0


def number(n: int) -> str:
    # San Francisco numbers in assigned exchanges (415-200-0000 on), so each maps to one zone.
    return f"+1415{2_000_000 + n:07d}"


class MemoryReader:
    """Answers the policy's listings from generated rows, counting the pages it would request."""

    def __init__(self) -> None:
        self.pages = 0
        self.now = datetime.now(timezone.utc)

    def _rows(self, path: str, params: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        if path == endpoints.CONTACTS:
            for n in range(RECIPIENTS):
                zone = "America/New_York" if n % 10 == 0 else None
                yield {
                    "phone": number(n),
                    "email": None,
                    "dnd": n % 97 == 0,
                    "dnd_channels": [],
                    "timezone": zone,
                }
        elif (params or {}).get("direction") == "inbound":
            for n in range(REPLIES):
                at = (self.now - timedelta(days=n % 300)).isoformat()
                yield {"from": number(n * 7), "body": "STOP" if n % 3 else "START", "created_at": at}
        else:
            for n in range(LOG_ROWS):
                # Half the recipients got one message today: a cap of one skips them.
                yield {"to": number(2 * n)}

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        for i, row in enumerate(self._rows(path, params)):
            if i % MAX_PAGE_SIZE == 0:
                self.pages += 1
            yield row


def main() -> None:
    reader = MemoryReader()
    policy = resolve_policy("sms", {"max_per_recipient": [1, "24h"]})
    recipients = [number(n) for n in range(RECIPIENTS)]
    # Judged at 18:00 UTC: daytime on the US East and West coasts.
    moment = datetime(2026, 6, 15, 18, 0, tzinfo=timezone.utc)
    screen(reader, recipients[:10], policy, now=moment)  # load phonenumbers' data first
    number_zones.cache_clear()
    reader.pages = 0
    started = time.process_time()
    verdict = screen(reader, recipients, policy, now=moment)
    cpu = time.process_time() - started
    # Memory in a second run: tracemalloc slows the first one's timing several-fold.
    number_zones.cache_clear()
    tracemalloc.start()
    screen(MemoryReader(), recipients, policy, now=moment)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    sends = len(verdict.send_now)
    reads_s, sends_s = reader.pages / RATE, RECIPIENTS / RATE
    print(f"recipients {RECIPIENTS:,}, contacts {RECIPIENTS:,}, log rows {LOG_ROWS:,}, replies {REPLIES:,}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"judging: {cpu:.2f} s CPU, peak {peak / 2**20:.0f} MiB allocated, process peak RSS {rss:.0f} MiB")
    print(f"reads: {reader.pages} requests = {reads_s:.0f} s at {RATE:g} req/s")
    added = (reads_s + cpu) / sends_s
    print(f"send of {RECIPIENTS:,} at {RATE:g} req/s: {sends_s:,.0f} s; the policy adds {added:.1%}")
    print(f"verdict: {sends:,} now, " + ", ".join(f"{len(v):,} {k}" for k, v in verdict.skipped.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
