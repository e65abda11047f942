"""Defaults and limits shared by every layer, in a module that imports nothing.

Operators check their arguments against these while a DAG is parsed, so they must not live in the
hook module: importing it would load the whole HTTP layer into every parse.
"""

from __future__ import annotations

#: The connection every hook, operator, sensor, trigger and notifier uses unless told otherwise;
#: ``VotelHook.default_conn_name`` is this (tests/test_import_cost.py pins that they agree).
DEFAULT_CONN_ID = "votel_default"
#: The first Airflow minor whose triggerer renders a started trigger's templated arguments.
START_FROM_TRIGGER_AIRFLOW = (3, 3)
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
#: Call statuses of a call not yet ended: the call log lists such calls only when filtered on one.
IN_FLIGHT_CALL_STATUSES = ("queued", "ringing", "in_progress")
#: The channels a contact can opt out of one by one (``dnd_channels``).
OUTREACH_CHANNELS = ("sms", "email", "whatsapp", "call")
#: The policy's channel for a workflow enrollment, which reaches a person on channels the workflow
#: picks: only ``dnd`` (every channel) opts a contact out of it, unless the channels are named.
ANY_CHANNEL = "any"
#: The preview's price estimate, per SMS/WhatsApp segment, per e-mail and per call started. The
#: contract names no prices (an SMS answer carries its ``segments`` and ``cost``): these are the
#: sandbox's, which mirror the account's default plan; the preview says "estimated".
ESTIMATED_PRICES = {"sms": "0.01", "whatsapp": "0.005", "email": "0.001", "call": "0.10"}
#: Preview rows shown in the task log when no ``results_destination`` is given (the rest counted).
PREVIEW_LOG_ROWS = 50
#: Environment variable fixing the policy's clock (an ISO 8601 instant): for tests and previews only.
POLICY_CLOCK_ENV = "VOTEL_POLICY_NOW"
#: Recipients up to which the outreach policy looks each one up (a contact search, or for a contact
#: id a ``GET /contacts/{contact_id}``, and with a cap a read of their messages) instead of listing
#: the contacts and the log. Listing costs a request per 500 contacts or rows, whatever the send; a
#: look-up costs one or two per recipient, whatever the CRM. The CRM's size is unknown until its
#: first page is read, so the crossover is set by recipients alone. Up to 20 recipients that is at
#: most 40 requests (a few seconds at the usual limits), what listing 20,000 contacts costs: a small
#: CRM loses seconds at worst, a large one saves minutes (100,000 contacts and a day of 200,000
#: sends are 600 requests), and above 20 recipients a per-recipient read would grow with every
#: campaign while most CRMs list in fewer requests.
MAX_RECIPIENTS_LOOKED_UP = 20
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
