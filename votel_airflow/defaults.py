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
#: What a send whose outcome is unknown does to the task (see :mod:`votel_airflow.ambiguity`).
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
