"""Defaults and limits shared by every layer, in a module that imports nothing.

Operators check their arguments against these while a DAG is parsed, so they must not live in the
hook module: importing it would load the whole HTTP layer into every parse.
"""

from __future__ import annotations

#: The connection every hook, operator, sensor, trigger and notifier uses unless told otherwise;
#: ``VotelHook.default_conn_name`` is this (tests/test_import_cost.py pins that they agree).
DEFAULT_CONN_ID = "votel_default"
#: The contract's largest ``limit`` on a list endpoint.
MAX_PAGE_SIZE = 500
#: Pooled HTTP connections per sync hook, and so the most sends a task runs at once.
POOL_SIZE = 32
#: The contract's longest SMS body, e-mail subject and e-mail content (text or HTML), in characters.
SMS_MAX_LENGTH = 1600
EMAIL_SUBJECT_MAX_LENGTH = 998
EMAIL_CONTENT_MAX_LENGTH = 100_000
#: The API's most contacts in one enrollment request.
MAX_ENROLL_BATCH = 500
#: The fields an upsert of contacts can match existing contacts on.
MATCH_ON = ("phone", "email")
#: What a send whose outcome is unknown does to the task (see :mod:`votel_airflow.delivery.ambiguity`).
ON_AMBIGUOUS = ("fail", "skip")
#: The connection extras the outreach policy reads (see :mod:`votel_airflow.delivery.policy`).
OUTREACH_EXTRAS = (
    "quiet_hours", "on_quiet_hours", "max_per_recipient", "opt_out_lookback", "suppression_list",
    "default_timezone",
)  # fmt: skip
#: The local hours no marketing text or call goes out (US rules allow 8 a.m. to 9 p.m.), per
#: channel; e-mail has none by default.
DEFAULT_QUIET_HOURS = {"sms": "21:00-08:00", "whatsapp": "21:00-08:00", "call": "21:00-08:00", "email": None}
#: What a send does with recipients inside their quiet hours.
ON_QUIET_HOURS = ("defer", "skip", "fail")
#: How far back a STOP reply counts, in seconds (365 days).
DEFAULT_OPT_OUT_LOOKBACK = 365 * 86_400
#: Inbound SMS keywords that opt a number out, and those that opt it back in (trimmed, any case).
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})
#: Why a recipient was not sent to, as the summary names it.
SKIP_REASONS = ("opted_out", "suppressed", "quiet_hours", "frequency_capped", "unknown_timezone")
#: Environment variable fixing the policy's clock (an ISO 8601 instant): for tests and previews only.
POLICY_CLOCK_ENV = "VOTEL_POLICY_NOW"
#: Rounds of the hook's retries an outreach read gets when the API keeps answering 429.
RATE_LIMITED_READ_ROUNDS = 5
#: The fewest seconds between two polls of an event trigger (``VotelEventTrigger``).
MIN_EVENT_POLL_INTERVAL = 1.0
#: Seconds an event trigger waits after yielding an event before it records the event as
#: delivered: long enough for the triggerer to have stored the event (it syncs about every second),
#: so a triggerer lost meanwhile makes the next one deliver it again rather than lose it.
EVENT_CURSOR_SETTLE_SECONDS = 5.0
#: How far the triggerer's clock may be ahead of the API's: an event trigger reads this much
#: further back than its own clock says it must, so no call created meanwhile is missed.
EVENT_CLOCK_MARGIN_SECONDS = 300.0
