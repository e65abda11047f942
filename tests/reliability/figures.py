"""The figures each reliability scenario reports: requests, retries, wall time, items checked.

Tests add rows with :func:`record`; the suite's ``conftest.py`` prints them as a table at the end of
the session and writes the same table to ``tests/reliability/last-run.md``, so CI output shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAST_RUN = Path(__file__).resolve().parent / "last-run.md"
COLUMNS = ("scenario", "workload", "requests", "retries", "faults injected", "wall s", "checked")


@dataclass
class Figure:
    """One scenario's figures.

    :param scenario: the fault or crash scenario, e.g. ``"5% random 500s"``.
    :param workload: what ran, e.g. ``"SMS to 2,000 recipients"``.
    :param requests: requests the sandbox received (``admin.stats()["requests_total"]``).
    :param retries: requests beyond those a fault-free run makes.
    :param wall_seconds: wall time of the workload.
    :param checked: what was verified, e.g. ``"2000 recipients, each once"``.
    :param faults: injected faults by kind, from ``admin.stats()["faults"]``.
    """

    scenario: str
    workload: str
    requests: int
    retries: int
    wall_seconds: float
    checked: str
    faults: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> tuple[str, ...]:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "-"
        return (
            self.scenario,
            self.workload,
            str(self.requests),
            str(self.retries),
            faults,
            f"{self.wall_seconds:.1f}",
            self.checked,
        )


FIGURES: list[Figure] = []


def record(figure: Figure) -> None:
    """Keep a scenario's figures for the end-of-session table."""
    FIGURES.append(figure)


def markdown_table(figures: list[Figure]) -> str:
    """The figures as a Markdown table (one row per scenario and workload)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(f.cells()) + " |" for f in figures]
    return "\n".join(lines) + "\n"
