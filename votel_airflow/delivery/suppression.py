"""The suppression list: numbers and addresses never reached, one per line, from a file.

The file is a local path or any object-storage URL Airflow's ``ObjectStoragePath`` reads. Blank
lines and ``#`` comments are allowed; any other line must be an E.164 number or an e-mail address,
and one that is neither fails the send before its first request, naming the line: a typo must
not quietly let a person through.
"""

from __future__ import annotations

from votel_airflow.delivery.reads import identity
from votel_airflow.validation import fail, is_e164, is_email

FIELD = "suppression_list"


def read_suppression_list(location: str) -> frozenset[str]:
    """The identities on the list at ``location`` (see the module docstring)."""
    from votel_airflow.destinations import as_storage_path

    path = as_storage_path(FIELD, location)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(
            FIELD, location, f"cannot be read ({type(exc).__name__}: {exc})",
            "Check the path and its permissions, or set suppression_list=None to send without one.",
        ) from None  # fmt: skip
    found: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if not (is_e164(entry) or is_email(entry)):
            raise fail(
                FIELD, location, f"line {number} ({entry!r}) is not an E.164 number nor an e-mail address",
                "Fix or remove that line (numbers as '+14155552671', one entry per line, '#' for comments).",
            )  # fmt: skip
        found.add(identity(entry))
    return frozenset(found)
