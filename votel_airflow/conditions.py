"""Conditions: what a sensor waits for, written once and judged the same by poke and by trigger.

A condition names the GETs to make and judges their answers. The sensor's ``poke`` runs it on the
sync hook; :class:`votel_airflow.triggers.condition.VotelConditionTrigger` runs the very same
condition on the async hook in the triggerer. Its constructor takes JSON values only, so it
round-trips through the trigger's ``serialize()``.

Sensor modules define their conditions at import, so this module is part of every DAG parse; the
:class:`Fetch` and :class:`Verdict` dataclasses a condition builds only when it runs are loaded on
first use from :mod:`votel_airflow.condition_values` (building dataclasses is costly at import).
Code that runs conditions reads them as ``conditions.Fetch`` and ``conditions.Verdict``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from votel_airflow.condition_values import Fetch, Verdict
    from votel_airflow.hooks.votel import VotelAsyncHook, VotelHook

__all__ = ["Condition", "Fetch", "Verdict"]


def __getattr__(name: str) -> Any:
    """``Fetch`` and ``Verdict``, imported on first use (PEP 562)."""
    if name in ("Fetch", "Verdict"):
        from votel_airflow import condition_values

        value = getattr(condition_values, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
