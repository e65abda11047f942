"""The DAG the crash tests write into a temporary folder, as source text.

Its two tasks are the real operators with one small override: on the first try, the hook raises
after ``RELIABILITY_CRASH_SENDS`` POSTs (the send) or ``RELIABILITY_CRASH_PAGES`` GETs (the
extraction), the way a worker dies mid-task. ``0`` (or unset) disables the crash, for the SIGKILL runs.
"""

from __future__ import annotations

DAG_ID = "reliability_crash"
LOGICAL_DATE = "2026-10-05T00:00:00+00:00"

DAG_SOURCE = '''
import os
import threading
from datetime import datetime, timedelta
from functools import cached_property

from airflow.sdk import DAG

from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.communication import SendSmsOperator

CRASH_AFTER = {
    "POST": int(os.environ.get("RELIABILITY_CRASH_SENDS") or 0),
    "GET": int(os.environ.get("RELIABILITY_CRASH_PAGES") or 0),
}


class InjectedCrash(RuntimeError):
    """The failure a test injects; nothing in the provider catches it."""


class CrashingHook(VotelHook):
    def __init__(self, conn_id, *, crash_after, method):
        super().__init__(conn_id)
        self.crash_after = crash_after
        self.method = method
        self.calls = 0
        self.lock = threading.Lock()

    # _send is where every request goes, pages read ahead included (request() serves the rest).
    def _send(self, call, *args, **kwargs):
        if self.crash_after and call.method == self.method:
            with self.lock:
                self.calls += 1
                over = self.calls > self.crash_after
            if over:
                raise InjectedCrash(f"injected crash after {self.crash_after} {self.method} calls")
        return super()._send(call, *args, **kwargs)


class CrashOnFirstTry:
    crash_method = "POST"

    @cached_property
    def hook(self):
        first_try = self._try_number == 1
        return CrashingHook(
            self.votel_conn_id,
            crash_after=CRASH_AFTER[self.crash_method] if first_try else 0,
            method=self.crash_method,
        )

    def execute(self, context):
        self._try_number = context["ti"].try_number
        return super().execute(context)


class CrashingSms(CrashOnFirstTry, SendSmsOperator):
    crash_method = "POST"


class CrashingExtract(CrashOnFirstTry, CallLogExtractOperator):
    crash_method = "GET"


with DAG(
    "__DAG_ID__",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):
    CrashingSms(
        task_id="send",
        to=__NUMBERS__,
        body="Reminder: your appointment is tomorrow",
        rate_limit=__RATE__,
        results_destination=__RESULTS__,
    )
    CrashingExtract(
        task_id="extract",
        destination="__DESTINATION__",
        since="__SINCE__",
        until="__UNTIL__",
        page_size=__PAGE_SIZE__,
    )
'''


def dag_source(
    numbers: list[str],
    destination: str,
    since: str,
    until: str,
    *,
    rate: float | None,
    page_size: int,
    results: str | None = None,
) -> str:
    """The DAG file's text for these recipients, destination and window (``results``: the send's file)."""
    return (
        DAG_SOURCE.replace("__DAG_ID__", DAG_ID)
        .replace("__NUMBERS__", repr(numbers))
        .replace("__RATE__", repr(rate))
        .replace("__DESTINATION__", destination)
        .replace("__SINCE__", since)
        .replace("__UNTIL__", until)
        .replace("__PAGE_SIZE__", str(page_size))
        .replace("__RESULTS__", repr(results))
    )
