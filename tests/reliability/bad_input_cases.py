"""The bad-input table: every way a user can get an argument or a connection wrong, and what they see.

One :class:`Case` per row. ``test_bad_input.py`` runs each row against the sandbox and checks the
exception type, that the message names the field and the value, that no request left when the
input was invalid, and that nothing was written at the destination. ``docs/reference/bad-input.md``
is generated from this table (``python -m tests.reliability.bad_input_cases``); a test fails when
the two drift.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import make_context
from votel_airflow import endpoints
from votel_airflow.compat import AirflowNotFoundException
from votel_airflow.exceptions import (
    VotelAuthError,
    VotelBadRequestError,
    VotelConfigurationError,
    VotelInputError,
    VotelNotFoundError,
    VotelPaymentRequiredError,
    VotelPermissionError,
    VotelServerError,
)
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.agents import StartCallOperator
from votel_airflow.operators.communication import SendEmailOperator, SendSmsOperator
from votel_airflow.operators.contacts import UpdateContactOperator
from votel_airflow.operators.workflows import EnrollContactOperator, VotelContactsNotFoundError

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "bad-input.md"
MISSING = "00000000-0000-4000-8000-000000000000"
SINCE = "2026-10-01T00:00:00Z"
UNTIL = "2026-10-02T00:00:00Z"


@dataclass
class World:
    """What a case's trigger may use.

    :param base_url: the sandbox's API root.
    :param api_key: a fresh seeded tenant's key; ``votel_default`` points at it.
    :param out: an empty folder for destinations; it must stay empty for invalid input.
    :param stub_url: root of a stub server answering ``/html/...`` with a 200 HTML page and
        ``/forbidden/...`` with a 403.
    :param use_connection: ``(host, password, **extra)`` replaces ``votel_default``.
    :param sandbox_admin: the sandbox's admin client.
    """

    base_url: str
    api_key: str
    out: Path
    stub_url: str
    use_connection: Callable[..., None]
    sandbox_admin: Any

    def workflow_id(self) -> str:
        return str(VotelHook().get(endpoints.WORKFLOWS)[0]["id"])

    def agent_id(self) -> str:
        return str(VotelHook().get(endpoints.AGENTS)[0]["id"])


@dataclass(frozen=True)
class Case:
    """One row of the table.

    :param id: short name of the case.
    :param how: how it is triggered, in words (shown in the docs).
    :param trigger: does it; must raise.
    :param error: the exception type expected.
    :param contains: substrings the message must contain (the field and the value).
    :param user_sees: what the user reads in the task log, shortly (shown in the docs).
    :param sends_request: False when the input is invalid: no request may leave.
    :param marks: pytest marks of the row, e.g. an xfail for a known sandbox discrepancy.
    """

    id: str
    how: str
    trigger: Callable[[World], Any]
    error: type[BaseException]
    contains: tuple[str, ...]
    user_sees: str
    sends_request: bool = False
    marks: tuple[Any, ...] = ()


def _run(operator: Any) -> Any:
    return operator.execute(make_context())


def _sms(world: World, **kwargs: Any) -> Any:
    kwargs.setdefault("to", ["+14155550123"])
    kwargs.setdefault("body", "hello")
    return _run(SendSmsOperator(task_id="sms", results_destination=str(world.out / "ids.json"), **kwargs))


def _extract(world: World, **kwargs: Any) -> Any:
    kwargs.setdefault("destination", str(world.out / "calls.jsonl"))
    kwargs.setdefault("since", SINCE)
    kwargs.setdefault("until", UNTIL)
    return _run(CallLogExtractOperator(task_id="extract", **kwargs))


def _with_connection(world: World, host: str | None, password: str | None, **extra: Any) -> Any:
    world.use_connection(host, password, **extra)
    return _run(
        CallLogExtractOperator(
            task_id="extract", destination=str(world.out / "calls.jsonl"), since=SINCE, until=UNTIL
        )
    )


def _enroll(world: World, ids: list[str], **kwargs: Any) -> Any:
    return _run(
        EnrollContactOperator(task_id="enroll", workflow_id=world.workflow_id(), contact_ids=ids, **kwargs)
    )


def _no_funds(world: World) -> Any:
    world.sandbox_admin.set_wallet(world.api_key, 0.0)
    return _sms(world)


CASES: list[Case] = [
    # --- phone numbers and message bodies -------------------------------------------------------
    Case(
        "sms-number-not-e164",
        "SendSmsOperator(to=['+14155550123', '12345'])",
        lambda w: _sms(w, to=["+14155550123", "12345"]),
        VotelInputError,
        ("to", "'12345'"),
        "to: 1 of 2 numbers are invalid: ['12345']. Nothing was sent.",
    ),
    Case(
        "sms-local-format",
        "SendSmsOperator(to='(415) 555-0123')",
        lambda w: _sms(w, to="(415) 555-0123"),
        VotelInputError,
        ("to", "(415) 555-0123"),
        "to: 1 of 1 numbers are invalid: ['(415) 555-0123']",
    ),
    Case(
        "sms-missing-plus",
        "SendSmsOperator(to='14155550123')",
        lambda w: _sms(w, to="14155550123"),
        VotelInputError,
        ("to", "14155550123"),
        "to: ... invalid: ['14155550123']; use '+' and the country code",
    ),
    Case(
        "sms-not-a-list",
        "SendSmsOperator(to=42)",
        lambda w: _sms(w, to=42),
        VotelInputError,
        ("to=42", "string or a list"),
        "to=42: must be a string or a list of strings",
    ),
    Case(
        "sms-empty-item",
        "SendSmsOperator(to=['+14155550123', ''])",
        lambda w: _sms(w, to=["+14155550123", ""]),
        VotelInputError,
        ("to=", "['']"),
        "to=['']: contains empty or non-string items",
    ),
    Case(
        "sms-empty-body",
        "SendSmsOperator(body='')",
        lambda w: _sms(w, body=""),
        VotelInputError,
        ("body=''", "non-empty"),
        "body='': must be a non-empty string",
    ),
    Case(
        "sms-blank-body",
        "SendSmsOperator(body='   ')",
        lambda w: _sms(w, body="   "),
        VotelInputError,
        ("body='   '", "non-empty"),
        "body='   ': must be a non-empty string",
    ),
    Case(
        "sms-oversized-body",
        "SendSmsOperator(body='x' * 1601)",
        lambda w: _sms(w, body="x" * 1601),
        VotelInputError,
        ("body=", "1601 characters", "1600"),
        "body='xxx...': is 1601 characters, over the limit of 1600",
    ),
    Case(
        "sms-bad-sender",
        "SendSmsOperator(from_number='555')",
        lambda w: _sms(w, from_number="555"),
        VotelInputError,
        ("from_number='555'", "E.164"),
        "from_number='555': is not an E.164 phone number",
    ),
    Case(
        "sms-number-no-plan",
        "SendSmsOperator(to=['+14155550123', '+1415555012'])",
        lambda w: _sms(w, to=["+14155550123", "+1415555012"]),
        VotelInputError,
        ("to", "+1415555012"),
        "to: 1 of 2 numbers are invalid: ['+1415555012']. Nothing was sent.",
    ),
    Case(
        "sms-zero-concurrency",
        "SendSmsOperator(max_concurrency=0)",
        lambda w: _sms(w, max_concurrency=0),
        VotelInputError,
        ("max_concurrency=0",),
        "max_concurrency=0: must be a whole number from 1 to 32",
    ),
    Case(
        "sms-negative-rate",
        "SendSmsOperator(rate_limit=-1)",
        lambda w: _sms(w, rate_limit=-1),
        VotelInputError,
        ("rate_limit=-1", "positive"),
        "rate_limit=-1: must be a positive number of requests per second",
    ),
    Case(
        "sms-unknown-on-invalid",
        "SendSmsOperator(on_invalid='ignore')",
        lambda w: _sms(w, on_invalid="ignore"),
        VotelInputError,
        ("on_invalid='ignore'", "fail", "skip"),
        "on_invalid='ignore': is not one of ['fail', 'skip']",
    ),
    Case(
        "email-invalid-address",
        "SendEmailOperator(to='not-an-email')",
        lambda w: _run(SendEmailOperator(task_id="e", to="not-an-email", subject="Hi", text="t")),
        VotelInputError,
        ("to", "not-an-email"),
        "to: 1 of 1 addresses are invalid: ['not-an-email']",
    ),
    Case(
        "email-no-content",
        "SendEmailOperator(subject='Hi') without text, html or template_id",
        lambda w: _run(SendEmailOperator(task_id="e", to="ada@example.com", subject="Hi")),
        VotelInputError,
        ("text=None", "no content"),
        "text=None: no content given. Pass text, html or template_id.",
    ),
    Case(
        "call-number-not-e164",
        "StartCallOperator(to='0800 123')",
        lambda w: _run(StartCallOperator(task_id="c", agent_id="agent-1", to="0800 123")),
        VotelInputError,
        ("to", "0800 123"),
        "to='0800 123': is not an E.164 phone number",
    ),
    Case(
        "call-number-no-plan",
        "StartCallOperator(to='+99912345678')",
        lambda w: _run(StartCallOperator(task_id="c", agent_id="agent-1", to="+99912345678")),
        VotelInputError,
        ("to", "+99912345678", "no numbering plan"),
        "to='+99912345678': no numbering plan allows this number (no country has this calling code)",
    ),
    # --- ids --------------------------------------------------------------------------------------
    Case(
        "enroll-batch-over-500",
        "EnrollContactOperator(batch_size=501)",
        lambda w: _enroll(w, [MISSING], batch_size=501),
        VotelInputError,
        ("batch_size=501", "500"),
        "batch_size=501: must be a whole number from 1 to 500",
    ),
    Case(
        "hook-page-over-500",
        "VotelHook().paginate('/contacts', page_size=501)",
        lambda w: list(VotelHook().paginate(endpoints.CONTACTS, page_size=501)),
        ValueError,
        ("page_size", "501"),
        "page_size must be between 1 and 500, got 501",
    ),
    Case(
        "hook-501-ids-in-one-call",
        "VotelHook().request('POST', enrollments, json={'contact_ids': 501 ids})",
        lambda w: VotelHook().request(
            "POST",
            endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=w.workflow_id()),
            json={"contact_ids": [str(uuid.uuid4()) for _ in range(501)]},
        ),
        VotelBadRequestError,
        ("422", "contact_ids"),
        "422 Unprocessable Entity on POST ...: contact_ids: ...",
        sends_request=True,
    ),
    Case(
        "enroll-empty-workflow-id",
        "EnrollContactOperator(workflow_id='')",
        lambda w: _run(EnrollContactOperator(task_id="e", workflow_id="", contact_ids=[MISSING])),
        VotelInputError,
        ("workflow_id=''", "non-empty id"),
        "workflow_id='': must be a non-empty id string",
    ),
    Case(
        "enroll-unknown-workflow",
        f"EnrollContactOperator(workflow_id='{MISSING}')",
        lambda w: _run(EnrollContactOperator(task_id="e", workflow_id=MISSING, contact_ids=[MISSING])),
        VotelNotFoundError,
        ("404", MISSING),
        f"404 Not Found on POST /workflows/{MISSING}/enrollments: ...",
        sends_request=True,
    ),
    Case(
        "enroll-unknown-contact",
        f"EnrollContactOperator(contact_ids=['{MISSING}'], fail_on_not_found=True)",
        lambda w: _enroll(w, [MISSING], fail_on_not_found=True),
        VotelContactsNotFoundError,
        ("contact_ids", MISSING),
        "contact_ids: 1 of 1 contacts do not exist in Votel: [...]",
        sends_request=True,
    ),
    Case(
        "call-unknown-agent",
        f"StartCallOperator(agent_id='{MISSING}')",
        lambda w: _run(StartCallOperator(task_id="c", agent_id=MISSING, to="+14155550123")),
        VotelNotFoundError,
        ("404", MISSING),
        f"404 Not Found on POST /agents/{MISSING}/calls: ...",
        sends_request=True,
    ),
    Case(
        "update-unknown-contact",
        f"UpdateContactOperator(contact_id='{MISSING}')",
        lambda w: _run(UpdateContactOperator(task_id="u", contact_id=MISSING, fields={"first_name": "Ada"})),
        VotelNotFoundError,
        ("404", MISSING, "Lead not found"),
        "404 Not Found on PATCH /contacts/...: Lead not found",
        sends_request=True,
    ),
    # --- windows, destinations, formats -----------------------------------------------------------
    Case(
        "since-malformed",
        "CallLogExtractOperator(since='yesterday')",
        lambda w: _extract(w, since="yesterday"),
        VotelInputError,
        ("since='yesterday'", "ISO 8601"),
        "since='yesterday': is not an ISO 8601 date-time",
    ),
    Case(
        "until-malformed",
        "CallLogExtractOperator(until='2026-13-45')",
        lambda w: _extract(w, until="2026-13-45"),
        VotelInputError,
        ("until='2026-13-45'", "ISO 8601"),
        "until='2026-13-45': is not an ISO 8601 date-time",
    ),
    Case(
        "until-before-since",
        "CallLogExtractOperator(since='2026-10-02', until='2026-10-01')",
        lambda w: _extract(w, since=UNTIL, until=SINCE),
        VotelInputError,
        ("until='2026-10-01T00:00:00+00:00'", "since='2026-10-02T00:00:00+00:00'"),
        "until=... is not after since=...: the window [since, until) would be empty",
    ),
    Case(
        "destination-relative",
        "CallLogExtractOperator(destination='calls.jsonl')",
        lambda w: _extract(w, destination="calls.jsonl"),
        VotelInputError,
        ("destination='calls.jsonl'", "relative"),
        "destination='calls.jsonl': is a relative path",
    ),
    Case(
        "destination-folder",
        "CallLogExtractOperator(destination='/data/out/')",
        lambda w: _extract(w, destination=f"{w.out}/"),
        VotelInputError,
        ("destination=", "must name a file"),
        "destination='/data/out/': must name a file",
    ),
    Case(
        "destination-unknown-scheme",
        "CallLogExtractOperator(destination='nosuch://bucket/calls.jsonl')",
        lambda w: _extract(w, destination="nosuch://bucket/calls.jsonl"),
        VotelInputError,
        ("destination='nosuch://bucket/calls.jsonl'", "storage URL"),
        "destination='nosuch://...': is not a storage URL",
    ),
    Case(
        "format-unknown",
        "CallLogExtractOperator(format='csv')",
        lambda w: _extract(w, format="csv"),
        VotelInputError,
        ("format='csv'", "jsonl"),
        "format='csv': is not one of ['jsonl', 'jsonl.gz', 'parquet']",
    ),
    Case(
        "filter-unknown",
        "CallLogExtractOperator(filters={'agent': 'a-1'})",
        lambda w: _extract(w, filters={"agent": "a-1"}),
        VotelInputError,
        ("filters=", "'agent'"),
        "filters={'agent': 'a-1'}: has unknown name(s) ['agent']",
    ),
    Case(
        "filter-bad-status",
        "CallLogExtractOperator(filters={'status': 'done'})",
        lambda w: _extract(w, filters={"status": "done"}),
        VotelInputError,
        ("status", "'done'"),
        "filters['status']='done': is not one of [...]",
    ),
    Case(
        "page-size-over-500",
        "CallLogExtractOperator(page_size=501)",
        lambda w: _extract(w, page_size=501),
        VotelInputError,
        ("page_size=501",),
        "page_size=501: must be a whole number from 1 to 500",
    ),
    # --- the connection ---------------------------------------------------------------------------
    Case(
        "connection-missing",
        "CallLogExtractOperator(votel_conn_id='votel_nope')",
        lambda w: _extract(w, votel_conn_id="votel_nope"),
        AirflowNotFoundException,
        ("votel_nope",),
        "The conn_id `votel_nope` isn't defined",
    ),
    Case(
        "connection-without-key",
        "connection with an empty password",
        lambda w: _with_connection(w, w.base_url, ""),
        VotelConfigurationError,
        ("votel_default", "API Key", "is empty"),
        "Connection 'votel_default': API Key is empty.",
    ),
    Case(
        "key-without-sk",
        "connection password 'pk_live_0123456789'",
        lambda w: _with_connection(w, w.base_url, "pk_live_0123456789"),
        VotelConfigurationError,
        ("votel_default", "API Key", "'sk_'"),
        "Connection 'votel_default': API Key does not start with 'sk_'.",
    ),
    Case(
        "server-idempotency-not-boolean",
        "connection extra {'server_idempotency': 'no'}",
        lambda w: _with_connection(w, w.base_url, w.api_key, server_idempotency="no"),
        VotelConfigurationError,
        ("votel_default", "server_idempotency", "true or false", "'no'"),
        "Connection 'votel_default': extra field 'server_idempotency' must be true or false, got 'no'.",
    ),
    Case(
        "base-url-bad-scheme",
        "connection host 'ftp://votel.example/api'",
        lambda w: _with_connection(w, "ftp://votel.example/api", w.api_key),
        VotelConfigurationError,
        ("Base URL", "ftp://votel.example/api"),
        "Connection 'votel_default': Base URL is 'ftp://...', not an http(s) URL",
    ),
    Case(
        "base-url-without-scheme",
        "connection host '127.0.0.1:PORT/api' (http server; https assumed)",
        lambda w: _with_connection(w, w.base_url.removeprefix("http://"), w.api_key, max_retries=1),
        VotelServerError,
        ("Base URL", "https://127.0.0.1", "SSLError"),
        "No answer on GET ... after 2 attempt(s): SSLError; the TLS handshake with "
        "https://127.0.0.1:PORT/api failed: check the scheme (http:// or https://) of the Base URL",
        sends_request=True,
    ),
    Case(
        "base-url-path-typo",
        "connection host 'http://127.0.0.1:PORT/apii'",
        lambda w: _with_connection(w, w.base_url + "i", w.api_key, max_retries=1),
        VotelNotFoundError,
        ("404", "/apii", "Base URL"),
        "404 Not Found on GET /activity/call-logs: Not Found (no such path under ...)",
        sends_request=True,
    ),
    Case(
        "server-answers-html",
        "connection host pointing at a web page, not the API",
        lambda w: _with_connection(w, w.stub_url + "/html", w.api_key),
        VotelServerError,
        ("non-JSON", "text/html", "/api"),
        "200 OK on GET ...: non-JSON answer (text/html, ...); check ... ends in /api",
        sends_request=True,
    ),
    Case(
        "key-unknown-401",
        "connection password 'sk_revoked_0123456789'",
        lambda w: _with_connection(w, w.base_url, "sk_revoked_0123456789"),
        VotelAuthError,
        ("401", "API key"),
        "401 Unauthorized on GET /activity/call-logs: Invalid or missing API key",
        sends_request=True,
    ),
    Case(
        "wallet-empty-402",
        "SendSmsOperator with the wallet at 0",
        _no_funds,
        VotelPaymentRequiredError,
        ("0 of 1 sent", "wallet"),
        "sms: 0 of 1 sent before the wallet ran out (...). Top up the wallet",
        sends_request=True,
    ),
    Case(
        "plan-forbids-403",
        "an API answering 403 (plan without the feature)",
        lambda w: _with_connection(w, w.stub_url + "/forbidden/api", w.api_key),
        VotelPermissionError,
        ("403", "Upgrade required"),
        "403 Forbidden on GET /activity/call-logs: Upgrade required ...",
        sends_request=True,
    ),
    Case(
        "validation-422-list",
        "VotelHook().request('POST', '/communication/sms', json={'to': '+1...'}) (no body)",
        lambda w: VotelHook().request("POST", endpoints.SMS, json={"to": "+14155550123"}),
        VotelBadRequestError,
        ("422", "body", "Field required"),
        "422 Unprocessable Entity on POST /communication/sms: body: Field required",
        sends_request=True,
    ),
    Case(
        "sms-quiet-hours-unparseable",
        "SendSmsOperator(quiet_hours='9pm-8am')",
        lambda w: _sms(w, quiet_hours="9pm-8am"),
        VotelInputError,
        ("quiet_hours", "9pm-8am"),
        "quiet_hours='9pm-8am': is not a quiet-hours window. Give local start and end as 'HH:MM-HH:MM'",
    ),
    Case(
        "sms-on-quiet-hours-unknown",
        "SendSmsOperator(on_quiet_hours='later')",
        lambda w: _sms(w, on_quiet_hours="later"),
        VotelInputError,
        ("on_quiet_hours", "later"),
        "on_quiet_hours='later': is not one of ['defer', 'fail', 'skip']",
    ),
    Case(
        "sms-cap-period-not-a-duration",
        "SendSmsOperator(max_per_recipient=(1, 'a day'))",
        lambda w: _sms(w, max_per_recipient=(1, "a day")),
        VotelInputError,
        ("max_per_recipient period", "a day"),
        "max_per_recipient period='a day': is not a positive duration. Give a duration such as '24h'",
    ),
    Case(
        "sms-suppression-list-unreadable",
        "SendSmsOperator(suppression_list='/nowhere/suppressed.txt')",
        lambda w: _sms(w, suppression_list=str(w.out / "missing" / "suppressed.txt")),
        VotelInputError,
        ("suppression_list", "suppressed.txt", "cannot be read"),
        "suppression_list='/.../suppressed.txt': cannot be read (FileNotFoundError: ...)",
    ),
    Case(
        "sms-suppression-list-bad-line",
        "SendSmsOperator(suppression_list=file whose line 2 is 'nobody')",
        lambda w: _sms(w, suppression_list=_suppression_file(w, "+14155550100\nnobody\n")),
        VotelInputError,
        ("suppression_list", "line 2", "nobody"),
        "suppression_list='...': line 2 ('nobody') is not an E.164 number nor an e-mail address",
    ),
]


def _suppression_file(world: World, text: str) -> str:
    # Beside the destination folder, which must stay empty.
    path = world.out.parent / f"suppressed-{uuid.uuid4().hex}.txt"
    path.write_text(text)
    return str(path)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(cases: list[Case] = CASES) -> str:
    """The docs page: one row per case."""
    head = (
        "# Bad input: what the user sees\n\n"
        "Generated from `tests/reliability/bad_input_cases.py` by\n"
        "`python -m tests.reliability.bad_input_cases > docs/reference/bad-input.md`; a test fails\n"
        "when this page and the table drift. Invalid input fails the task before any request and\n"
        "without retries (`VotelInputError` and `VotelConfigurationError` are `AirflowFailException`s);\n"
        "errors the API answers carry its status and `detail`.\n\n"
        "| case | how it is triggered | exception | request sent | what the user sees |\n"
        "|---|---|---|---|---|\n"
    )
    rows = [
        f"| `{c.id}` | `{_cell(c.how)}` | `{c.error.__name__}` | {'yes' if c.sends_request else 'no'} "
        f"| {_cell(c.user_sees)} |"
        for c in cases
    ]
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
