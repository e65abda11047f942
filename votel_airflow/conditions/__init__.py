"""Conditions: what a wait waits for, written once and judged the same by poke and by trigger.

A condition names the GETs to make and judges their answers. A sensor's ``poke`` and an operator
waiting for what it started (:func:`votel_airflow.waiting.wait_for`) run it on the sync hook;
:class:`votel_airflow.triggers.condition.VotelConditionTrigger` runs the very same condition on
the async hook in the triggerer. Its constructor takes JSON values only, so it round-trips through
the trigger's ``serialize()``.

Each API section's conditions live in a module of this package (:mod:`.calls`,
:mod:`.workflows`...), with the result shapers and status vocabularies that both its operators and
its sensors use: operators and sensors import them from here, never from each other.

Why :class:`Fetch` and :class:`Verdict` are not imported here: every DAG that uses a sensor (or an
operator that can wait) imports this package while it is parsed, but only a running condition
builds a Fetch or a Verdict, and building two frozen dataclasses costs more than the rest of the
package. So they live in :mod:`.values`, loaded on first use; code that runs conditions reads them
as ``conditions.Fetch`` and ``conditions.Verdict`` (section modules reach them through
``from votel_airflow import conditions``). This is the one place that explains it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from votel_airflow.conditions.values import Fetch, Verdict
    from votel_airflow.hooks.votel import VotelAsyncHook, VotelHook

__all__ = ["Condition", "Fetch", "Verdict", "answered_status"]


def __getattr__(name: str) -> Any:
    """``Fetch`` and ``Verdict``, imported on first use (PEP 562)."""
    if name in ("Fetch", "Verdict"):
        from votel_airflow.conditions import values

        value = getattr(values, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def answered_status(answer: Any, request: str, hint: str = "") -> str:
    """The ``status`` of the object a condition's GET answered.

    Conditions judge by that status, so an answer without one is the server's fault, not a state
    to wait out: it raises :class:`~votel_airflow.exceptions.VotelServerError` naming the request.

    :param answer: the parsed answer.
    :param request: the request, for the message (``GET message m_1``).
    :param hint: appended to the message (``; expected a call object``).
    """
    status = answer.get("status") if isinstance(answer, Mapping) else None
    if not isinstance(status, str):
        # Imported only on this path: the package is loaded while a DAG is parsed.
        from votel_airflow.exceptions import VotelServerError

        raise VotelServerError(f"{request} answered without a status{hint}")
    return status


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

    def follow_up(self, answers: list[Any]) -> list[Fetch]:
        """GETs that depend on this round's answers so far; their answers are appended to them.

        None by default. A condition whose second step needs the first one's answer (the threads,
        then their messages) names that step here, so poke and trigger still share one round.
        """
        return []

    def shared_read(self) -> tuple[str, str] | None:
        """``(kind, id)`` when this condition reads one object that a read shared by many waits
        can answer (:mod:`votel_airflow.triggers.shared_poll`); None (the default) when it cannot.

        Such a condition has exactly one fetch, and :meth:`evaluate` judges the object read
        either way, so a shared poll and the condition's own GET end every wait alike.
        """
        return None

    def check(self, hook: VotelHook) -> Verdict:
        """One round on the sync hook (a sensor's poke)."""
        answers = [_get(hook, fetch) for fetch in self.fetches()]
        answers += [_get(hook, fetch) for fetch in self.follow_up(answers)]
        return self.evaluate(answers)

    async def acheck(self, hook: VotelAsyncHook) -> Verdict:
        """One round on the async hook (a trigger's poll)."""
        answers = [await _aget(hook, fetch) for fetch in self.fetches()]
        answers += [await _aget(hook, fetch) for fetch in self.follow_up(answers)]
        return self.evaluate(answers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kwargs!r})"


def _get(hook: VotelHook, fetch: Fetch) -> Any:
    if fetch.all_pages:
        return list(hook.paginate(fetch.path, params=fetch.params))
    return hook.get(fetch.path, fetch.params)


async def _aget(hook: VotelAsyncHook, fetch: Fetch) -> Any:
    if fetch.all_pages:
        return await hook.get_all_pages(fetch.path, fetch.params)
    return await hook.get(fetch.path, fetch.params)
