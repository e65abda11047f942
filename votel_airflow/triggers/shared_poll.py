"""Shared polling: the waits of one event loop on one account and one kind share each poll.

Every deferred wait used to poll its own object, so N waits on an account cost N requests per
interval. Here a wait whose condition names a shared read (``Condition.shared_read()``, e.g.
``("call", call_id)``) subscribes to the loop's poller for its account and kind instead; each
interval the poller reads all subscribed ids at once (:mod:`.shared_reads`: a few paged listings,
plus one GET for an id the listings cannot see) and hands every subscriber its object. The
subscriber's condition judges it, exactly as it judges its own GET: the poller never decides.

* One poller per (event loop, base URL, API key, kind): an account, whatever connection id names
  it. It polls at the shortest interval its subscribers asked for.
* Subscribing and leaving are synchronous bookkeeping; a wait that ends or is cancelled leaves in
  its ``finally``, and the last one out cancels the poller, which closes its hook.
* A read that fails transiently (a 429 the hook's retries, ``Retry-After`` and pacing could not
  clear, a 5xx) reaches every subscriber as a warning and doubles the poller's interval, up to
  :data:`MAX_SLOWDOWN` times, halving again with each read that succeeds: a rate-limited account
  is polled less, by one poller, rather than once per wait.
* Nothing here is serialized: a triggerer restart rebuilds each trigger from its own kwargs, and
  the first of them to subscribe starts a new poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Hashable
from typing import Any

from votel_airflow.hooks.votel import VotelAsyncHook
from votel_airflow.triggers.loop_log import log_aside
from votel_airflow.triggers.shared_reads import READERS, TRANSIENT, Reader

log = logging.getLogger(__name__)

#: A shared read failing transiently slows its poller down to this many intervals at most.
MAX_SLOWDOWN = 8.0


class Subscription:
    """One wait's place in a poller: the object it waits on and the latest answer for it."""

    def __init__(self, object_id: str, interval: float) -> None:
        self.object_id = object_id
        self.interval = interval
        self._answer: Any = None
        self._fresh = asyncio.Event()

    def deliver(self, answer: Any) -> None:
        """Hand over this round's answer (an object, or the exception its read raised)."""
        self._answer = answer
        self._fresh.set()

    async def next_answer(self, within: float | None = None) -> Any:
        """The answer of the next round that read this object; raises what that read raised.

        :param within: seconds to wait at most, then ``asyncio.TimeoutError``; None waits on.
        """
        if within is None:
            await self._fresh.wait()
        else:
            # Not ``asyncio.wait_for``: before Python 3.12 it returns an answer that arrives in the
            # same loop turn as a cancellation and drops the cancellation, so a wait the triggerer
            # cancelled went on polling until its object ended.
            fresh = asyncio.ensure_future(self._fresh.wait())
            try:
                done, _ = await asyncio.wait({fresh}, timeout=within)
            finally:
                fresh.cancel()
            if not done:
                raise asyncio.TimeoutError
        self._fresh.clear()
        answer, self._answer = self._answer, None
        if isinstance(answer, BaseException):
            raise answer
        return answer


class SharedPoller:
    """Reads every subscribed object of one account and kind once per interval.

    :param conn_id: the connection the poller's own hook uses (the first subscriber's).
    :param kind: which reader of :data:`~votel_airflow.triggers.shared_reads.READERS` to use.
    """

    def __init__(self, conn_id: str, kind: str) -> None:
        self.conn_id = conn_id
        self.kind = kind
        self.reader: Reader = READERS[kind]
        self.subscribers: set[Subscription] = set()
        self.memo: dict[str, str] = {}
        self.slowdown = 1.0
        #: Rounds completed, read or failed (tests and benchmarks count requests per round).
        self.rounds = 0
        self.task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return min(s.interval for s in self.subscribers) * self.slowdown

    async def run(self) -> None:
        try:
            async with VotelAsyncHook(self.conn_id) as hook:
                while True:
                    await self.poll_once(hook)
                    await asyncio.sleep(self.interval)
        except Exception as exc:
            # The hook itself failed (a connection that cannot be read): every wait says so, and
            # the next one to subscribe starts a fresh poller.
            for subscription in list(self.subscribers):
                subscription.deliver(exc)

    async def poll_once(self, hook: VotelAsyncHook) -> None:
        subscribers = list(self.subscribers)
        ids = {s.object_id for s in subscribers}
        for stale in set(self.memo) - ids:
            del self.memo[stale]
        try:
            answers = await self.reader(hook, ids, self.memo)
        except TRANSIENT as exc:
            self.slowdown = min(self.slowdown * 2, MAX_SLOWDOWN)
            await log_aside(
                log,
                logging.WARNING,
                "Shared %s poll failed; polling every %gs for now: %s",
                self.kind,
                self.interval,
                exc,
            )
            answers = dict.fromkeys(ids, exc)
        except Exception as exc:
            # A bug or an answer of the wrong shape: each wait reports it, as its own poll would.
            answers = dict.fromkeys(ids, exc)
        else:
            # Back to the asked interval step by step: a limit that just cleared may return.
            self.slowdown = max(1.0, self.slowdown / 2)
            failed = [a for a in answers.values() if isinstance(a, Exception)]
            if failed:
                # Logged once here: each wait logs its own failure at DEBUG only.
                await log_aside(
                    log,
                    logging.WARNING,
                    "Shared %s poll: %d of %d reads failed, e.g. %s",
                    self.kind,
                    len(failed),
                    len(ids),
                    failed[0],
                )
        self.rounds += 1
        for subscription in subscribers:
            if subscription.object_id in answers:
                subscription.deliver(answers[subscription.object_id])


class _LoopPollers:
    def __init__(self) -> None:
        self.pollers: dict[Hashable, SharedPoller] = {}


# Weak: a loop closed and dropped takes its pollers with it.
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPollers] = weakref.WeakKeyDictionary()
_loops_lock = threading.Lock()


def _pollers() -> dict[Hashable, SharedPoller]:
    loop = asyncio.get_running_loop()
    with _loops_lock:
        state = _loops.get(loop)
        if state is None:
            state = _loops[loop] = _LoopPollers()
        return state.pollers


def running_pollers() -> list[SharedPoller]:
    """The running loop's pollers, one per account and kind with a wait subscribed."""
    return list(_pollers().values())


def can_share(kind: str) -> bool:
    """Whether waits of this kind can share their polls."""
    return kind in READERS


@contextlib.asynccontextmanager
async def subscribe(
    account: Hashable, conn_id: str, kind: str, object_id: str, interval: float
) -> AsyncIterator[Subscription]:
    """Join the loop's poller for ``account`` and ``kind`` (starting it), and leave it on exit.

    :param account: what identifies the account (the connection's base URL and API key).
    :param conn_id: the connection a new poller's hook uses.
    :param kind: a kind of :data:`~votel_airflow.triggers.shared_reads.READERS`.
    :param object_id: the object this wait waits on.
    :param interval: seconds between polls this wait asks for.
    """
    pollers = _pollers()
    key = (account, kind)
    poller = pollers.get(key)
    if poller is None or (poller.task is not None and poller.task.done()):
        poller = pollers[key] = SharedPoller(conn_id, kind)
    subscription = Subscription(object_id, interval)
    poller.subscribers.add(subscription)
    if poller.task is None:
        poller.task = asyncio.ensure_future(poller.run())
    try:
        yield subscription
    finally:
        poller.subscribers.discard(subscription)
        if not poller.subscribers:
            # Unregistered at once, so the next wait to subscribe starts a fresh poller.
            if pollers.get(key) is poller:
                del pollers[key]
            poller.task.cancel()
