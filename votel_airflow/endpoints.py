"""The endpoint catalogue: every path of the Votel API contract (docs/reference/api-contract.md), once.

Paths are relative to the connection's base URL (``https://app.votel.ai/api``). If the real
service differs from the contract, the fix is one line here. Fill a template with
:func:`path`, which percent-encodes each parameter so an id can never change the route.
"""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote

# Agents
AGENTS = "/agents"
AGENT = "/agents/{agent_id}"
AGENT_VERSIONS = "/agents/{agent_id}/versions"
AGENT_VERSION_DEPLOY = "/agents/{agent_id}/versions/{version_id}/deploy"
AGENT_KB_DOCUMENTS = "/agents/{agent_id}/knowledge-base/documents"
AGENT_KB_DOCUMENT = "/agents/{agent_id}/knowledge-base/documents/{doc_id}"
TTS_VOICES = "/tts-voices"
AGENT_CALLS = "/agents/{agent_id}/calls"

# Activity
CALL = "/activity/calls/{call_id}"
CALL_CANCEL = "/activity/calls/{call_id}/cancel"
CALL_LOGS = "/activity/call-logs"
MEETING_LOGS = "/activity/meeting-logs"
MESSAGING_LOGS = "/activity/messaging-logs"
ACTIVITY_REPORT = "/activity/reports/{kind}"

# Communication
SMS = "/communication/sms"
EMAIL = "/communication/email"
MESSAGE = "/communication/messages/{message_id}"
EMAIL_TEMPLATES = "/email-templates"

# Conversations
CONVERSATIONS = "/conversations"
CONVERSATION_MESSAGES = "/conversations/{conversation_id}/messages"
CONVERSATION_SEND = "/conversations/messages"
QUICK_REPLIES = "/quick-replies"
CHANNELS = "/channels"

# Contacts
CONTACTS = "/contacts"
CONTACT = "/contacts/{contact_id}"
CONTACT_IMPORTS = "/contacts/imports"
CONTACT_IMPORT = "/contacts/imports/{import_id}"
CONTACT_IMPORT_CANCEL = "/contacts/imports/{import_id}/cancel"
CONTACT_EXPORTS = "/contacts/exports"
CONTACT_EXPORT = "/contacts/exports/{export_id}"
CONTACT_TIMELINE = "/contacts/{contact_id}/timeline"
CUSTOM_FIELDS = "/custom-fields"
PIPELINES = "/pipelines"
CONTACT_STAGE = "/contacts/{contact_id}/stage"

# Tasks
TASKS = "/tasks"
TASK = "/tasks/{task_id}"
TASK_VIEWS = "/task-views"

# Workflows
WORKFLOWS = "/workflows"
WORKFLOW = "/workflows/{workflow_id}"
WORKFLOW_ENROLLMENTS = "/workflows/{workflow_id}/enrollments"
WORKFLOW_ENROLLMENT = "/workflows/{workflow_id}/enrollments/{enrollment_id}"
WORKFLOW_TRIGGER = "/workflows/{workflow_id}/trigger"
WORKFLOW_VARIABLES = "/workflow-variables"
WORKFLOW_VARIABLE = "/workflow-variables/{name}"
CAMPAIGNS = "/campaigns"
CAMPAIGN = "/campaigns/{campaign_id}"
CAMPAIGN_START = "/campaigns/{campaign_id}/start"
CAMPAIGN_PAUSE = "/campaigns/{campaign_id}/pause"
CAMPAIGN_RESUME = "/campaigns/{campaign_id}/resume"

# Calendars
CALENDARS = "/calendars"
CALENDAR_AVAILABILITY = "/calendars/{calendar_id}/availability"
CALENDAR_BOOKINGS = "/calendars/{calendar_id}/bookings"
BOOKINGS = "/bookings"
BOOKING = "/bookings/{booking_id}"
CALENDAR_WAITLIST = "/calendars/{calendar_id}/waitlist"

# Payments
WALLET = "/payments/wallet"
TRANSACTIONS = "/payments/transactions"
PRODUCTS = "/payments/products"
SUBSCRIPTIONS = "/payments/subscriptions"

# Click tracking
TRACKING_LINKS = "/tracking-links"
TRACKING_LINK_CLICKS = "/tracking-links/{link_id}/clicks"
CONVERSIONS = "/conversions"
TRAFFIC_SOURCES = "/traffic-sources"

# Settings
SETTINGS_USERS = "/settings/users"
SETTINGS_SUB_ACCOUNTS = "/settings/sub-accounts"
SETTINGS_PHONE_NUMBERS = "/settings/phone-numbers"
SETTINGS_INTEGRATIONS = "/settings/integrations"
SETTINGS_DOMAINS = "/settings/domains"

#: Which catalogue entries belong to which API section, as the contract groups them.
SECTIONS: dict[str, tuple[str, ...]] = {
    "agents": (
        AGENTS, AGENT, AGENT_VERSIONS, AGENT_VERSION_DEPLOY, AGENT_KB_DOCUMENTS,
        AGENT_KB_DOCUMENT, TTS_VOICES, AGENT_CALLS,
    ),
    "activity": (CALL, CALL_CANCEL, CALL_LOGS, MEETING_LOGS, MESSAGING_LOGS, ACTIVITY_REPORT),
    "communication": (SMS, EMAIL, MESSAGE, EMAIL_TEMPLATES),
    "conversations": (CONVERSATIONS, CONVERSATION_MESSAGES, CONVERSATION_SEND, QUICK_REPLIES, CHANNELS),
    "contacts": (
        CONTACTS, CONTACT, CONTACT_IMPORTS, CONTACT_IMPORT, CONTACT_IMPORT_CANCEL, CONTACT_EXPORTS,
        CONTACT_EXPORT, CONTACT_TIMELINE, CUSTOM_FIELDS, PIPELINES, CONTACT_STAGE,
    ),
    "tasks": (TASKS, TASK, TASK_VIEWS),
    "workflows": (
        WORKFLOWS, WORKFLOW, WORKFLOW_ENROLLMENTS, WORKFLOW_ENROLLMENT, WORKFLOW_TRIGGER,
        WORKFLOW_VARIABLES, WORKFLOW_VARIABLE, CAMPAIGNS, CAMPAIGN, CAMPAIGN_START, CAMPAIGN_PAUSE,
        CAMPAIGN_RESUME,
    ),
    "calendars": (
        CALENDARS, CALENDAR_AVAILABILITY, CALENDAR_BOOKINGS, BOOKINGS, BOOKING, CALENDAR_WAITLIST,
    ),
    "payments": (WALLET, TRANSACTIONS, PRODUCTS, SUBSCRIPTIONS),
    "click_tracking": (TRACKING_LINKS, TRACKING_LINK_CLICKS, CONVERSIONS, TRAFFIC_SOURCES),
    "settings": (
        SETTINGS_USERS, SETTINGS_SUB_ACCOUNTS, SETTINGS_PHONE_NUMBERS, SETTINGS_INTEGRATIONS,
        SETTINGS_DOMAINS,
    ),
}  # fmt: skip

#: Every operation of the contract, ``(method, template)``, with the body fields it requires (what
#: ``votel-check-api`` compares with the service's own OpenAPI document).
OPERATIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", AGENTS): (), ("POST", AGENTS): ("name", "prompt"),
    ("GET", AGENT): (), ("PATCH", AGENT): (),
    ("GET", AGENT_VERSIONS): (), ("POST", AGENT_VERSIONS): (),
    ("POST", AGENT_VERSION_DEPLOY): (),
    ("GET", AGENT_KB_DOCUMENTS): (), ("POST", AGENT_KB_DOCUMENTS): ("title",),
    ("DELETE", AGENT_KB_DOCUMENT): (),
    ("GET", TTS_VOICES): (),
    ("POST", AGENT_CALLS): ("to",),
    ("GET", CALL): (),
    ("POST", CALL_CANCEL): (),
    ("GET", CALL_LOGS): (), ("GET", MEETING_LOGS): (), ("GET", MESSAGING_LOGS): (),
    ("GET", ACTIVITY_REPORT): (),
    ("POST", SMS): ("to", "body"),
    ("POST", EMAIL): ("to", "subject"),
    ("GET", MESSAGE): (),
    ("GET", EMAIL_TEMPLATES): (), ("POST", EMAIL_TEMPLATES): ("name", "subject", "html"),
    ("GET", CONVERSATIONS): (),
    ("GET", CONVERSATION_MESSAGES): (),
    ("POST", CONVERSATION_SEND): ("contact_id", "channel", "body"),
    ("GET", QUICK_REPLIES): (),
    ("GET", CHANNELS): (),
    ("GET", CONTACTS): (), ("POST", CONTACTS): ("first_name",),
    ("GET", CONTACT): (), ("PATCH", CONTACT): (), ("DELETE", CONTACT): (),
    ("POST", CONTACT_IMPORTS): ("contacts",),
    ("GET", CONTACT_IMPORT): (),
    ("POST", CONTACT_IMPORT_CANCEL): (),
    ("POST", CONTACT_EXPORTS): (),
    ("GET", CONTACT_EXPORT): (),
    ("GET", CONTACT_TIMELINE): (),
    ("GET", CUSTOM_FIELDS): (),
    ("GET", PIPELINES): (),
    ("PUT", CONTACT_STAGE): ("pipeline_id", "stage_id"),
    ("GET", TASKS): (), ("POST", TASKS): ("title",),
    ("PATCH", TASK): (),
    ("GET", TASK_VIEWS): (),
    ("GET", WORKFLOWS): (),
    ("GET", WORKFLOW): (),
    ("GET", WORKFLOW_ENROLLMENTS): (), ("POST", WORKFLOW_ENROLLMENTS): ("contact_ids",),
    ("DELETE", WORKFLOW_ENROLLMENT): (),
    ("POST", WORKFLOW_TRIGGER): (),
    ("GET", WORKFLOW_VARIABLES): (),
    ("PUT", WORKFLOW_VARIABLE): ("value",),
    ("GET", CAMPAIGNS): (),
    ("GET", CAMPAIGN): (),
    ("POST", CAMPAIGN_START): (), ("POST", CAMPAIGN_PAUSE): (), ("POST", CAMPAIGN_RESUME): (),
    ("GET", CALENDARS): (),
    ("GET", CALENDAR_AVAILABILITY): (),
    ("POST", CALENDAR_BOOKINGS): ("contact_id", "start"),
    ("GET", BOOKINGS): (),
    ("PATCH", BOOKING): ("status",),
    ("GET", CALENDAR_WAITLIST): (),
    ("GET", WALLET): (), ("GET", TRANSACTIONS): (), ("GET", PRODUCTS): (), ("GET", SUBSCRIPTIONS): (),
    ("GET", TRACKING_LINKS): (), ("POST", TRACKING_LINKS): ("name", "destination_url"),
    ("GET", TRACKING_LINK_CLICKS): (),
    ("GET", CONVERSIONS): (),
    ("GET", TRAFFIC_SOURCES): (),
    ("GET", SETTINGS_USERS): (), ("GET", SETTINGS_SUB_ACCOUNTS): (),
    ("GET", SETTINGS_PHONE_NUMBERS): (), ("GET", SETTINGS_INTEGRATIONS): (), ("GET", SETTINGS_DOMAINS): (),
}  # fmt: skip

#: The ``GET`` s without path parameters that answer one document; every other one is a list and
#: pages with ``limit`` and ``offset``.
SINGLE_DOCUMENTS = frozenset({WALLET})

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    """The names of the ``{placeholders}`` in a path template, in order."""
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def path(template: str, **params: Any) -> str:
    """Fill a path template, percent-encoding every parameter (``/`` included).

    :param template: one of this module's templates, e.g. :data:`CONTACT`.
    :param params: a value for each placeholder; a missing or extra one is an error.
    """
    expected = set(placeholders(template))
    missing = expected - params.keys()
    extra = params.keys() - expected
    if missing or extra:
        raise ValueError(
            f"path {template!r} takes {sorted(expected)}; missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}"
        )
    for name, value in params.items():
        if value is None or str(value) == "":
            raise ValueError(f"path {template!r}: {name} must not be empty, got {value!r}")
    return template.format(**{name: quote(str(value), safe="") for name, value in params.items()})
