"""Conditions: what a sensor waits for, written once and judged the same by poke and by trigger.

A condition names the GETs to make and judges their answers. The sensor's ``poke`` runs it on the
sync hook; :class:`votel_airflow.triggers.condition.VotelConditionTrigger` runs the very same
condition on the async hook in the triggerer. Its constructor takes JSON values only, so it
round-trips through the trigger's ``serialize()``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelAsyncHook, VotelHook


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


class Condition(ABC):
    """Base of all waits. Subclasses keep their JSON-safe constructor arguments in ``kwargs``."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Import path and arguments, for the trigger."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", dict(self.kwargs)

    @staticmethod
    def deserialize(class_path: str, kwargs: Mapping[str, Any]) -> Condition:
        """Rebuild a condition from :meth:`serialize` output."""
        module_name, _, name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), name)
        if not (isinstance(cls, type) and issubclass(cls, Condition)):
            raise TypeError(f"{class_path} is not a Condition")
        return cls(**kwargs)

    @abstractmethod
    def fetches(self) -> list[Fetch]:
        """The GETs to make in one round."""

    @abstractmethod
    def evaluate(self, answers: list[Any]) -> Verdict:
        """Judge the answers, in the order of :meth:`fetches`."""

    def check(self, hook: VotelHook) -> Verdict:
        """One round on the sync hook (a sensor's poke)."""
        answers = [
            list(hook.paginate(f.path, params=f.params)) if f.all_pages else hook.get(f.path, f.params)
            for f in self.fetches()
        ]
        return self.evaluate(answers)

    async def acheck(self, hook: VotelAsyncHook) -> Verdict:
        """One round on the async hook (a trigger's poll)."""
        answers = [
            await hook.get_all_pages(f.path, f.params) if f.all_pages else await hook.get(f.path, f.params)
            for f in self.fetches()
        ]
        return self.evaluate(answers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kwargs!r})"
