"""The API contract as the tests read it: the project's own copy, ``docs/reference/api-contract.md``.

The copy is the upstream contract verbatim (docs/conventions.md says how to take a new version);
every test that needs the contract reads it from here, so a fresh clone checks it too.
"""

from __future__ import annotations

import re
from pathlib import Path

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "reference" / "api-contract.md"
#: One endpoint row of the contract's tables: ``| GET | /agents | ... |``.
ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(/\S*)\s*\|", re.MULTILINE)


def text() -> str:
    return CONTRACT.read_text(encoding="utf-8")


def operations() -> set[tuple[str, str]]:
    """Every ``(method, path)`` the contract lists; a path may appear with several methods."""
    return set(ROW.findall(text()))


def paths() -> set[str]:
    return {path for _, path in operations()}


def sections() -> list[str]:
    """Headings of section 3's endpoint tables, as module names (``Click Tracking`` -> ``click_tracking``)."""
    body = text()
    endpoints_part = body[body.index("## 3.") :]
    headings = re.findall(r"^### (.+?)\s*$", endpoints_part, flags=re.MULTILINE)
    return sorted(heading.strip().lower().replace(" ", "_") for heading in headings)
