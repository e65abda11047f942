"""Griffe extension: render Sphinx cross-reference roles in our docstrings as inline code.

The package's docstrings use Sphinx roles (``:class:`~votel_airflow.conditions.Condition```) that
mkdocstrings' Sphinx parser leaves verbatim. Plain code reads well and can never be a broken link.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|exc|data|obj|const):`(~?)([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite ``:role:`target``` to `` `target` `` (``~`` keeps the last component only)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_plain, obj.docstring.value)
