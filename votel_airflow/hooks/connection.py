"""Turn an Airflow connection into validated settings, failing before any request is made."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from votel_airflow.defaults import OUTREACH_EXTRAS
from votel_airflow.exceptions import VotelConfigurationError
from votel_airflow.hooks.network import NETWORK_EXTRAS, parse_ca_bundle, parse_extra_headers, parse_proxy
from votel_airflow.hooks.retry import RetryPolicy

DEFAULT_BASE_URL = "https://app.votel.ai/api"
DEFAULT_TIMEOUT = 30.0
#: Seconds to wait for a TCP (and TLS) connection; the read timeout, when smaller, caps it.
CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
MAX_TIMEOUT = 600.0
MAX_RETRIES_LIMIT = 20
#: Longest ``Retry-After`` waited by default (the policy's own default, one home).
DEFAULT_RETRY_AFTER_MAX = RetryPolicy.retry_after_max
#: An hour: a cap above it would let one 429 park every caller of the account past any task's timeout.
RETRY_AFTER_MAX_LIMIT = 3600.0
KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow connection the hook reads; the key is hidden from any repr."""

    host: str | None
    password: str | None = field(repr=False)
    extra: Any
    port: int | None
    schema: str | None

    @classmethod
    def of(cls, conn: Any) -> ConnectionFields:
        """The fields of an Airflow connection (or of anything with the same attributes)."""
        return cls(conn.host, conn.password, conn.extra, conn.port, conn.schema)


class ApiKey:
    """An API key that never shows itself in a repr, a str, a log line or a pickle by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key's text, for the ``X-API-Key`` header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('sk_***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from a ``votel`` connection.

    :param conn_id: the Airflow connection id, named in every configuration error.
    :param base_url: API root without a trailing slash, e.g. ``https://app.votel.ai/api``; never
        with ``user:password@`` (that becomes an ``Authorization`` header in ``extra_headers``).
    :param api_key: the ``sk_`` key, wrapped so it cannot leak through a repr.
    :param timeout: read timeout in seconds.
    :param max_retries: retries after the first try for retryable failures.
    :param retry_after_max: longest ``Retry-After`` waited, in seconds (extra ``retry_after_max``);
        it also caps the pause a 429 imposes on every caller of the account in the process.
    :param proxy: http(s) proxy URL for every request (extra ``proxy``), or None.
    :param ca_bundle: PEM file of CA certificates to trust instead of the defaults (extra
        ``ca_bundle``), or None.
    :param extra_headers: ``(name, value)`` pairs sent with every request (extra ``extra_headers``).
    :param server_idempotency: whether the server honours ``Idempotency-Key`` (the contract). When
        False, a request with a side effect that failed ambiguously is never sent again.
    :param adaptive_pacing: share the account's rate limit with the other tasks calling it, by
        pacing the machine's processes from the API's 429s (see :mod:`votel_airflow.hooks.pacing`).
    :param outreach: the outreach policy's extras (``quiet_hours``, ``max_per_recipient``, ...),
        as given: :mod:`votel_airflow.delivery.policy` checks them when a send resolves its policy.
    """

    conn_id: str
    base_url: str
    api_key: ApiKey = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX
    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    server_idempotency: bool = True
    adaptive_pacing: bool = True
    outreach: tuple[tuple[str, Any], ...] = ()


def _fail(conn_id: str, field_name: str, problem: str, fix: str) -> VotelConfigurationError:
    return VotelConfigurationError(
        f"Connection {conn_id!r}: {field_name} {problem}. {fix + ' ' if fix else ''}"
        f"(Admin > Connections, or the AIRFLOW_CONN_{conn_id.upper()} variable)."
    )


def normalise_base_url(
    conn_id: str, host: str | None, *, port: int | None = None, schema: str | None = None
) -> str:
    """Apply the default host and the https scheme, and reject what cannot be a base URL.

    A URI-form connection (``votel://:sk_...@localhost:8000/api``) splits the address into host,
    port and schema (the path); they are put back together here so no part is silently dropped.
    ``schema`` ``http``/``https`` is read as the scheme, as the HTTP provider does.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    scheme_hint = (schema or "").strip().lower()
    if "://" not in raw:
        raw = f"{scheme_hint if scheme_hint in ('http', 'https') else 'https'}://{raw}"
    parts = urlsplit(raw)
    try:
        has_port = parts.port is not None
    except ValueError:
        has_port = False
        parts = parts._replace(netloc="")  # an unreadable port makes the URL invalid below
    if port and not has_port and parts.netloc:
        parts = parts._replace(netloc=f"{parts.netloc}:{port}")
    if scheme_hint and scheme_hint not in ("http", "https") and parts.path in ("", "/"):
        parts = parts._replace(path="/" + scheme_hint.strip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise _fail(
            conn_id,
            "Base URL",
            f"is {without_userinfo(raw)!r}, which is not an http(s) URL without query or fragment",
            f"Set it like {DEFAULT_BASE_URL!r}.",
        )
    return parts.geturl().rstrip("/")


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed: the form to show, log or name a dataset by.

    :param url: an absolute URL, e.g. a connection's base URL.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def userinfo_header(url: str) -> tuple[str, str] | None:
    """The ``Authorization: Basic`` header that a base URL's ``user:password@`` asks for, or None.

    HTTP clients turn URL userinfo into exactly this header (a gateway in front of the API may
    want it); carried as an extra header it is masked in logs and kept out of every repr, while
    the base URL itself is kept without it.
    """
    import base64
    from urllib.parse import unquote

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return ("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())


def parse_extra_number(
    conn_id: str,
    extra: dict[str, Any],
    name: str,
    *,
    integer: bool,
    low: float,
    high: float,
    kind: str = "extra field",
) -> float | None:
    """Read an optional numeric extra field, naming the field and the bad value on error."""
    if name not in extra or extra[name] in (None, ""):
        return None
    value = extra[name]
    try:
        if isinstance(value, bool):
            # JSON true is not a number of seconds or retries, though Python would read it as 1.
            raise ValueError
        number = int(value) if integer else float(value)
        if integer and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        what = "a whole number" if integer else "a number"
        raise _fail(conn_id, f"{kind} {name!r}", f"must be {what}, got {value!r}", "") from None
    if not low <= number <= high:
        raise _fail(conn_id, f"{kind} {name!r}", f"must be between {low:g} and {high:g}, got {value!r}", "")
    return number


def parse_extra_bool(conn_id: str, extra: dict[str, Any], name: str, *, default: bool) -> bool:
    """Read an optional boolean extra field: JSON true/false, or "true"/"false" (URI-form extras)."""
    value = extra.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _fail(
        conn_id, f"extra field {name!r}", f"must be true or false, got {value!r}",
        f'Use e.g. {{"{name}": false}}.',
    )  # fmt: skip


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    password: str | None,
    extra: str | dict[str, Any] | None,
    timeout: float | None = None,
    max_retries: int | None = None,
    port: int | None = None,
    schema: str | None = None,
    retry_after_max: float | None = None,
) -> ConnectionSettings:
    """Validate a connection's fields; arguments given to the hook win over extras.

    :param conn_id: connection id, for error messages.
    :param host: the "Base URL" field.
    :param password: the "API Key" field.
    :param extra: the extra JSON (string or dict) with optional ``timeout``, ``max_retries``,
        ``retry_after_max``, ``server_idempotency`` and ``adaptive_pacing``, and the network
        extras ``proxy``, ``ca_bundle`` and ``extra_headers``.
    :param timeout: hook argument overriding the extra.
    :param max_retries: hook argument overriding the extra.
    :param retry_after_max: hook argument overriding the extra.
    :param port: the connection's port (URI-form connections), added to a host without one.
    :param schema: the connection's schema (URI-form path, or ``http``/``https`` as the scheme).
    """
    key = (password or "").strip()
    if not key:
        raise _fail(conn_id, "API Key", "is empty", "Paste the key from Votel > Settings > API keys.")
    if not key.startswith(KEY_PREFIX):
        # Say how the value starts without quoting it: it may be a real secret pasted in the wrong box.
        raise _fail(
            conn_id, "API Key", f"does not start with {KEY_PREFIX!r}", "Votel API keys look like 'sk_...'."
        )
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in key):
        # A header cannot carry these, and requests would quote the value in its error.
        raise _fail(
            conn_id, "API Key", "contains spaces, line breaks or non-ASCII characters",
            "Paste the key again, exactly as Votel shows it.",
        )  # fmt: skip
    if isinstance(extra, str):
        try:
            extra_dict = json.loads(extra) if extra.strip() else {}
        except ValueError:
            raise _fail(conn_id, "Extra", "is not valid JSON", 'Use e.g. {"timeout": 30}.') from None
    else:
        extra_dict = dict(extra or {})
    if not isinstance(extra_dict, dict):
        raise _fail(conn_id, "Extra", "is not a JSON object", 'Use e.g. {"timeout": 30}.')
    known = {"timeout", "max_retries", "retry_after_max", "server_idempotency", "adaptive_pacing"}
    known |= NETWORK_EXTRAS | set(OUTREACH_EXTRAS)
    unknown = sorted(set(extra_dict) - known)
    if unknown:
        raise _fail(conn_id, "Extra", f"has unknown field(s) {unknown}", f"Allowed: {sorted(known)}.")
    extra_timeout = parse_extra_number(
        conn_id, extra_dict, "timeout", integer=False, low=0.1, high=MAX_TIMEOUT
    )
    extra_retries = parse_extra_number(
        conn_id, extra_dict, "max_retries", integer=True, low=0, high=MAX_RETRIES_LIMIT
    )
    extra_retry_after = parse_extra_number(
        conn_id, extra_dict, "retry_after_max", integer=False, low=0, high=RETRY_AFTER_MAX_LIMIT
    )
    # Hook arguments get the same checks as the extras they override, named as arguments.
    arguments = {"timeout": timeout, "max_retries": max_retries, "retry_after_max": retry_after_max}
    arg_timeout = parse_extra_number(
        conn_id, arguments, "timeout", integer=False, low=0.1, high=MAX_TIMEOUT, kind="hook argument"
    )
    arg_retries = parse_extra_number(
        conn_id, arguments, "max_retries", integer=True, low=0, high=MAX_RETRIES_LIMIT, kind="hook argument"
    )
    arg_retry_after = parse_extra_number(
        conn_id,
        arguments,
        "retry_after_max",
        integer=False,
        low=0,
        high=RETRY_AFTER_MAX_LIMIT,
        kind="hook argument",
    )
    base_url = normalise_base_url(conn_id, host, port=port, schema=schema)
    extra_headers = parse_extra_headers(conn_id, extra_dict.get("extra_headers"))
    basic = userinfo_header(base_url)
    if basic and not any(name.lower() == "authorization" for name, _ in extra_headers):
        extra_headers = (*extra_headers, basic)
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=without_userinfo(base_url),
        api_key=ApiKey(key),
        timeout=float(_first_set(arg_timeout, extra_timeout, DEFAULT_TIMEOUT)),
        max_retries=int(_first_set(arg_retries, extra_retries, DEFAULT_MAX_RETRIES)),
        retry_after_max=_first_set(arg_retry_after, extra_retry_after, DEFAULT_RETRY_AFTER_MAX),
        proxy=parse_proxy(conn_id, extra_dict.get("proxy")),
        ca_bundle=parse_ca_bundle(conn_id, extra_dict.get("ca_bundle")),
        extra_headers=extra_headers,
        server_idempotency=parse_extra_bool(conn_id, extra_dict, "server_idempotency", default=True),
        adaptive_pacing=parse_extra_bool(conn_id, extra_dict, "adaptive_pacing", default=True),
        outreach=tuple((name, extra_dict[name]) for name in OUTREACH_EXTRAS if name in extra_dict),
    )


def _first_set(*values: float | None) -> float:
    return next(value for value in values if value is not None)
