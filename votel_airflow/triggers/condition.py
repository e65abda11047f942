"""One trigger for every Votel wait: poll a :class:`~votel_airflow.conditions.Condition` asynchronously.

Note for operators of the triggerer: a triggerer restart re-creates the trigger from its
serialized arguments and polls again from scratch; polling is read-only, so this is harmless.

With ``end_from_trigger``, a met condition ends the task from the triggerer: the trigger yields
``TaskSuccessEvent`` carrying the XCom result, and no worker resumes the task. Every other
outcome (failed, error, timeout) still resumes the task in the worker, which raises the clear
error and keeps the usual retry rules.

A condition that reads one object a shared read can answer (``Condition.shared_read()``: a call's
status) does not poll alone: it subscribes to the event loop's poller for its account and kind
(:mod:`.shared_poll`), so a thousand call waits cost a few listing pages per interval, not a
thousand GETs. The serialized form does not change: sharing is decided when the trigger runs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from votel_airflow.compat import BaseTrigger, TaskSuccessEvent, TriggerEvent
from votel_airflow.conditions import Condition
from votel_airflow.defaults import DEFAULT_CONN_ID
from votel_airflow.exceptions import VotelRateLimitError, VotelServerError
from votel_airflow.hooks.votel import VotelAsyncHook
from votel_airflow.triggers import shared_poll
from votel_airflow.triggers.loop_log import log_aside
from votel_airflow.triggers.task_result import push_result

LOG_EVERY_POLLS = 10
#: The XCom key of a task's result.
RETURN_VALUE = "return_value"
#: Failures that outlasted the hook's own retries but may still clear before the wait's deadline.
TRANSIENT = (VotelServerError, VotelRateLimitError)


def _event(status: str, message: str, value: Any = None) -> TriggerEvent:
    payload = {"status": status, "message": message, "value": value}
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class VotelConditionTrigger(BaseTrigger):
    """Poll a condition until it is met, fails, or the wait times out.

    Yields one event ``{"status": "success"|"failed"|"error"|"timeout", "message", "value"}``; a
    timeout's ``value`` is the condition's arguments (the ids waited on), so the task resuming can
    stop what it waited on (``cancel_on_timeout``).

    :param condition_class: import path of the :class:`Condition` subclass.
    :param condition_kwargs: its JSON-safe constructor arguments.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param poke_interval: seconds between polls.
    :param deadline: Unix time after which the wait times out (None: no limit). This is the wait's
        own limit, separate from the task's ``execution_timeout``.
    :param share_polls: let the waits of one account and kind share their polls (see the module
        docstring); False polls this wait's object alone. Serialized only when False, so the
        stored form of a default trigger is what earlier releases wrote and read.
    :param end_from_trigger: end the task from the triggerer when the condition is met (see the
        module docstring). Serialized only when True, for the same reason.
    :param xcom_key: the XCom key the result goes under when ending from the triggerer; None
        pushes nothing (a task with ``do_xcom_push=False``).
    """

    def __init__(
        self,
        condition_class: str,
        condition_kwargs: dict[str, Any],
        votel_conn_id: str = DEFAULT_CONN_ID,
        poke_interval: float = 30.0,
        deadline: float | None = None,
        share_polls: bool = True,
        end_from_trigger: bool = False,
        xcom_key: str | None = RETURN_VALUE,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.condition_class = condition_class
        self.condition_kwargs = condition_kwargs
        self.votel_conn_id = votel_conn_id
        self.poke_interval = poke_interval
        self.deadline = deadline
        self.share_polls = share_polls
        self.end_from_trigger = end_from_trigger
        self.xcom_key = xcom_key

    @classmethod
    def for_condition(
        cls,
        condition: Condition,
        *,
        votel_conn_id: str,
        poke_interval: float,
        timeout: float | None,
        end_from_trigger: bool = False,
        xcom_key: str | None = RETURN_VALUE,
    ) -> VotelConditionTrigger:
        """Build the trigger for a condition, with a deadline ``timeout`` seconds from now."""
        class_path, kwargs = condition.serialize()
        deadline = None if timeout is None else time.time() + float(timeout)
        return cls(
            class_path,
            kwargs,
            votel_conn_id,
            float(poke_interval),
            deadline,
            end_from_trigger=end_from_trigger,
            xcom_key=xcom_key,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "condition_class": self.condition_class,
            "condition_kwargs": self.condition_kwargs,
            "votel_conn_id": self.votel_conn_id,
            "poke_interval": self.poke_interval,
            "deadline": self.deadline,
        }
        if not self.share_polls:
            kwargs["share_polls"] = False
        if self.end_from_trigger:
            kwargs["end_from_trigger"] = True
            kwargs["xcom_key"] = self.xcom_key
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            condition = Condition.deserialize(self.condition_class, self.condition_kwargs)
        except Exception as exc:
            # A class renamed between deferral and a triggerer restart: fail the task, say why.
            yield _event("error", f"cannot rebuild condition {self.condition_class}: {exc!r}")
            return
        shared = condition.shared_read() if self.share_polls else None
        async with VotelAsyncHook(self.votel_conn_id) as hook:
            if shared is not None and shared_poll.can_share(shared[0]):
                async for event in self._run_shared(hook, condition, *shared):
                    yield event
                return
            for poll in itertools.count():
                try:
                    verdict = await condition.acheck(hook)
                except TRANSIENT as exc:
                    await log_aside(self.log, logging.WARNING, "Votel poll failed, will poll again: %s", exc)
                except Exception as exc:
                    yield _event("error", str(exc))
                    return
                else:
                    if verdict.done:
                        yield await self._ended(verdict.failed, verdict.message, verdict.value)
                        return
                    # A triggerer holds thousands of waits: one INFO line per poll each would
                    # drown its log and cost the shared event loop; every tenth poll is enough.
                    level = logging.INFO if poll % LOG_EVERY_POLLS == 0 else logging.DEBUG
                    await log_aside(self.log, level, "Waiting: %s", verdict.message or condition)
                pause = self.poke_interval
                if poll == 0:
                    # Waits deferred together would otherwise poll together forever: spread their
                    # phases once, keeping the mean interval.
                    pause *= 0.5 + random.random()
                if self.deadline is not None:
                    left = self.deadline - time.time()
                    if left <= 0:
                        message = f"{condition!r} not met before the wait's timeout"
                        yield _event("timeout", message, self.condition_kwargs)
                        return
                    # Never sleep past the deadline: the timeout event must beat the deferral's own.
                    pause = min(pause, left)
                await asyncio.sleep(pause)

    async def _ended(self, failed: bool, message: str, value: Any) -> TriggerEvent:
        """The event of a condition that is done: the task's end itself, or a resume of it."""
        if failed or not self.end_from_trigger:
            return _event("failed" if failed else "success", message, value)
        await log_aside(
            self.log, logging.INFO, "Condition met, ending the task from the triggerer: %s", message
        )
        if self.xcom_key is None:
            return TaskSuccessEvent(xcoms=None)
        if await push_result(getattr(self, "task_instance", None), self.xcom_key, value):
            return TaskSuccessEvent(xcoms=None)
        return TaskSuccessEvent(xcoms={self.xcom_key: value})

    async def _run_shared(
        self, hook: VotelAsyncHook, condition: Condition, kind: str, object_id: str
    ) -> AsyncIterator[TriggerEvent]:
        """Wait on the loop's shared poller: each of its rounds answers ``object_id``."""
        try:
            settings = await hook.aload_settings()
        except Exception as exc:
            yield _event("error", str(exc))
            return
        account = (settings.base_url, settings.api_key)
        # The event is yielded after leaving the poller: a triggerer may leave a fired trigger's
        # generator unclosed for a while, and it must not be polled for meanwhile.
        async with shared_poll.subscribe(
            account, self.votel_conn_id, kind, object_id, self.poke_interval
        ) as subscription:
            event = await self._await_shared(condition, subscription)
        yield event

    async def _await_shared(
        self, condition: Condition, subscription: shared_poll.Subscription
    ) -> TriggerEvent:
        for poll in itertools.count():
            left = None if self.deadline is None else self.deadline - time.time()
            try:
                if left is not None and left <= 0:
                    raise asyncio.TimeoutError
                answer = await subscription.next_answer(within=left)
                verdict = condition.evaluate([answer])
            except asyncio.TimeoutError:
                message = f"{condition!r} not met before the wait's timeout"
                return _event("timeout", message, self.condition_kwargs)
            except TRANSIENT as exc:
                # The poller has logged the failed read once for all its waits.
                await log_aside(self.log, logging.DEBUG, "Votel poll failed, will poll again: %s", exc)
                continue
            except Exception as exc:
                return _event("error", str(exc))
            if verdict.done:
                return await self._ended(verdict.failed, verdict.message, verdict.value)
            level = logging.INFO if poll % LOG_EVERY_POLLS == 0 else logging.DEBUG
            await log_aside(self.log, level, "Waiting: %s", verdict.message or condition)
        raise AssertionError("unreachable")
