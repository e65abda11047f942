"""The connection's optional network extras: a proxy, a CA bundle, extra headers.

Read and checked here, before any request, and applied alike by the sync hook (requests) and the
async hook (httpx). A proxy URL may carry credentials and a header may carry a gateway token: an
error names the field and what is wrong, never the value, and the values are masked in logs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from votel_airflow.exceptions import VotelConfigurationError

#: The extra fields this module reads.
NETWORK_EXTRAS = frozenset({"proxy", "ca_bundle", "extra_headers"})
#: Headers the hook sets itself: an extra header may not replace them (the API key above all).
RESERVED_HEADERS = frozenset({"x-api-key", "idempotency-key", "content-type", "content-length", "host"})
#: RFC 9110 field-name characters.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
MAX_HEADERS = 20


def _fail(conn_id: str, field: str, problem: str, fix: str) -> VotelConfigurationError:
    return VotelConfigurationError(
        f"Connection {conn_id!r}: extra field {field!r} {problem}. {fix} "
        f"(Admin > Connections, or the AIRFLOW_CONN_{conn_id.upper()} variable)."
    )


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_proxy(conn_id: str, value: Any) -> str | None:
    """An ``http://`` or ``https://`` proxy URL (credentials allowed), or None."""
    if _unset(value):
        return None
    parts = urlsplit(value.strip()) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not quoted: a proxy URL may hold a password.
        raise _fail(
            conn_id, "proxy", "is not an http(s) proxy URL",
            "Use e.g. 'http://proxy.internal:3128' or 'http://user:password@proxy.internal:3128'.",
        )  # fmt: skip
    try:
        _ = parts.port
    except ValueError:
        raise _fail(
            conn_id, "proxy", "has an unreadable port", "Use e.g. 'http://proxy.internal:3128'."
        ) from None
    return str(value).strip()


def parse_ca_bundle(conn_id: str, value: Any) -> str | None:
    """The path of a readable PEM file of CA certificates, or None."""
    if _unset(value):
        return None
    if not isinstance(value, str) or not os.path.isabs(value.strip()):
        raise _fail(
            conn_id, "ca_bundle", f"must be an absolute file path, got {value!r}",
            "Point it at a PEM file of the CA certificates to trust, e.g. '/etc/ssl/certs/corp-ca.pem'.",
        )  # fmt: skip
    path = value.strip()
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise _fail(
            conn_id, "ca_bundle", f"is {path!r}, which is not a readable file on this machine",
            "Install the CA bundle on every worker and the triggerer, at the same path.",
        )  # fmt: skip
    return path


def parse_extra_headers(conn_id: str, value: Any) -> tuple[tuple[str, str], ...]:
    """Header ``(name, value)`` pairs from a JSON object (or its text), checked; () when unset."""
    if _unset(value):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _fail(
                conn_id, "extra_headers", "is not valid JSON", 'Use a JSON object, e.g. {"X-Team": "growth"}.'
            ) from None
    if not isinstance(value, Mapping):
        raise _fail(
            conn_id, "extra_headers", "is not a JSON object", 'Use a JSON object, e.g. {"X-Team": "growth"}.'
        )
    if len(value) > MAX_HEADERS:
        raise _fail(conn_id, "extra_headers", f"has {len(value)} headers, over {MAX_HEADERS}", "Keep fewer.")
    headers = []
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise _fail(
                conn_id, "extra_headers", f"has an invalid header name {name!r}",
                "Use letters, digits and dashes, e.g. 'X-Team'.",
            )  # fmt: skip
        if name.lower() in RESERVED_HEADERS:
            raise _fail(
                conn_id, "extra_headers", f"may not set {name!r}: the hook sets it",
                "Put the API key in the connection's API Key field; remove the header from extra_headers.",
            )  # fmt: skip
        if not isinstance(text, str) or any(ch in text for ch in "\r\n\0") or not text.isprintable():
            # The value is not quoted: a header may carry a token.
            raise _fail(
                conn_id, "extra_headers", f"has a value for {name!r} that is not printable text on one line",
                "Give each header a plain string value.",
            )  # fmt: skip
        headers.append((name, text))
    return tuple(headers)


def secrets_of(proxy: str | None, headers: tuple[tuple[str, str], ...]) -> list[str]:
    """The values to mask in logs: the proxy's password and every extra header's value."""
    found = [text for _, text in headers if len(text) >= 4]
    if proxy:
        password = urlsplit(proxy).password
        if password:
            found.append(password)
    return found


def mask(secret: str) -> None:
    """Hide ``secret`` from every log line of this process (Airflow's secrets masker)."""
    # Looked up when called: the masker is Airflow's, found where this Airflow keeps it.
    from votel_airflow.compat import mask_secret

    mask_secret(secret)
