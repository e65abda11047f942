"""What a condition asks for and what it answers: :class:`Fetch` and :class:`Verdict`.

Read as ``votel_airflow.conditions.Fetch`` and ``votel_airflow.conditions.Verdict``, loaded when a
condition first runs (the package docstring of :mod:`votel_airflow.conditions` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fetch:
    """One GET a condition needs.

    :param path: a filled catalogue path.
    :param params: query parameters.
    :param all_pages: collect every page of a list endpoint into one list.
    """

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    all_pages: bool = False


@dataclass(frozen=True)
class Verdict:
    """A condition's judgement of one round of answers.

    :param done: the wait is over.
    :param failed: it is over because the awaited thing failed (the task should fail).
    :param message: for the log and the failure message.
    :param value: JSON-safe result for XCom when done.
    """

    done: bool
    failed: bool = False
    message: str = ""
    value: Any = None
