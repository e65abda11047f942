"""What checking one endpoint finds, and what a whole check found."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from votel_airflow import endpoints


class Status(str, enum.Enum):
    """The verdict on one ``(method, path)`` of the catalogue."""

    OK = "ok"
    MISSING = "missing"
    DIFFERS = "differs"
    NOT_ALLOWED = "not allowed"
    NOT_CHECKED = "not checked"


#: The verdicts that make the command exit 1: a task using that endpoint would fail.
FAILED = frozenset({Status.MISSING, Status.DIFFERS, Status.NOT_ALLOWED})


class Mode(str, enum.Enum):
    """How the check learnt what the service serves."""

    DOCUMENT = "document"
    PROBING = "probing"


class CheckAborted(Exception):
    """The check cannot run at all (bad connection, HTML instead of the API, no answer).

    Its message is the one line the command prints; it never holds the key.
    """


@dataclass(frozen=True)
class EndpointResult:
    """One catalogue operation and its verdict.

    :param method: HTTP method, upper case.
    :param path: the catalogue's path template.
    :param status: the verdict.
    :param detail: why, when not ok (the server's ``detail`` for a 422), else "".
    """

    method: str
    path: str
    status: Status
    detail: str = ""

    @property
    def section(self) -> str:
        return section_of(self.path)


@dataclass
class CheckReport:
    """Everything one run found.

    :param mode: document or probing.
    :param source: the URL of the document, or the base URL probed.
    :param results: one per catalogue operation, in catalogue order.
    :param used_by: ``{path template: [users]}`` for the endpoints that failed.
    """

    mode: Mode
    source: str
    results: list[EndpointResult]
    used_by: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[EndpointResult]:
        return [result for result in self.results if result.status in FAILED]

    def counts(self) -> dict[str, int]:
        """``{status: how many}`` for every status, zeros included."""
        return {status.value: sum(r.status is status for r in self.results) for status in Status}

    @property
    def exit_status(self) -> int:
        """0 when every checked endpoint matched, else 1."""
        return 1 if self.failed else 0


def section_of(path: str) -> str:
    """The contract section a catalogue path belongs to."""
    for section, paths in endpoints.SECTIONS.items():
        if path in paths:
            return section
    raise KeyError(path)


def catalogue(sections: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The catalogue's operations, ``(method, path)``, grouped by section in contract order.

    :param sections: keep only these sections; all when empty.
    """
    order = {path: index for index, path in enumerate(p for ps in endpoints.SECTIONS.values() for p in ps)}
    chosen = [op for op in endpoints.OPERATIONS if not sections or section_of(op[1]) in sections]
    return sorted(chosen, key=lambda op: (order[op[1]], _METHOD_ORDER.index(op[0])))


_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
