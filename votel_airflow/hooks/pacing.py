"""One account, one pace: an adaptive request rate learned from the API's 429s, per machine.

Eight extracts of a backfill, a campaign and a sync may call the same account at once, from
Celery workers on different machines. Nothing those tasks all reach can hand out tokens (Airflow 3
workers talk to the API server, not the metadata database; the broker may not be Redis), and
other clients of the account (another deployment, the Votel app) would stay invisible to any
store we chose. The one signal every caller sees, wherever it runs, is the API's own ``429``. So
each process paces itself the way TCP shares a link, and the processes converge on fair shares:

* **Unlimited until told.** A process that never met a 429 sends as fast as its answers come.
* **A first pace from the first 429.** A token-bucket limit lets about a second's worth of
  requests through, then refuses: the requests this process got accepted, over the time they
  took plus the ``Retry-After``, are close to its share of the limit.
* **Multiplicative decrease.** Every later 429 cuts the pace to :data:`BACKOFF` times itself,
  and no thread of the process sends before the ``Retry-After`` has passed.
* **Additive increase.** Successes raise the pace: back towards the rate of the last 429 first,
  then by :data:`PROBE_STEP` requests/s every second, the same step in every process (which is
  what makes their shares converge to fair ones, as TCP's do), doubled for every
  :data:`PROBE_DOUBLING` seconds without a 429, which finds capacity that callers that finished
  left free.

Every thread of the process (send workers, the page read ahead) draws its start slot from the
same pacer, so a process is one flow whatever its concurrency; and the processes of one machine
keep that pace in one locked file (:mod:`.pace_store`), so they are one flow too: the first 429
paces them all and a finished task's capacity goes to the rest at once. Between machines the flows
share the limit through the 429s as above; where the file cannot be used, each process is a flow.
Pacers are keyed by base URL and a digest of the API key: one account, one pace; the key itself is
never kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from votel_airflow.hooks.pace_store import LocalPace, PaceState, SharedPace, pace_for

#: The pace after a later 429, as a share of the pace that met it.
BACKOFF = 0.6
#: Per success below :data:`RECOVERY_TARGET` times the pace of the last 429: the share of the
#: gap closed (about two seconds back at a fair share of 20 requests/s among eight).
RECOVERY = 0.2
RECOVERY_TARGET = 1.0
#: Requests/s added to the pace every second beyond that, the same in every process...
PROBE_STEP = 0.03
#: ...doubled for every this many seconds without a 429, so capacity freed by callers that
#: finished is found within seconds, not minutes.
PROBE_DOUBLING = 2.0
#: Seconds of history behind the accepted rate.
GOODPUT_WINDOW = 2.0
#: The shortest time a first pace is measured over, in seconds.
MIN_SPAN = 0.5
#: The shortest time the burst behind a first pace's recovery target is spread over, in seconds:
#: about what a token bucket's burst lasts.
BURST_SPAN = 1.0
#: The slowest pace, requests/s: a pacer never stops a process altogether.
MIN_RATE = 0.2
#: The fastest pace, requests/s: far above any account's limit, and a bound that keeps the
#: probe's growth finite in a process that runs for days without a 429.
MAX_RATE = 1000.0
#: Seconds without a request after which the pace is forgotten (the limit may have gone).
IDLE_RESET = 60.0
#: Seconds after its last slot that a process still counts as one of the flows sharing a pace.
MEMBER_WINDOW = 10.0


class AdaptivePacer:
    """The start slots of one process's requests to one account; thread-safe.

    :param clock: a monotonic clock in seconds (a test may pass its own).
    :param pace: where the state lives: this process alone (the default), or a
        :class:`~votel_airflow.hooks.pace_store.SharedPace` every process of the machine reads.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, pace: LocalPace | SharedPace | None = None
    ) -> None:
        self._clock = clock
        self._pace = pace if pace is not None else LocalPace()
        self._member = uuid.uuid4().hex[:12]

    @property
    def shared(self) -> bool:
        """Whether the pace is shared with the machine's other processes (see :mod:`.pace_store`)."""
        return self._pace.shared

    @property
    def rate(self) -> float | None:
        """Requests/s, or None while unlimited."""
        with self._pace.session(save=False) as state:
            return state.rate

    @property
    def ceiling(self) -> float | None:
        """The pace when the last 429 came: what recovery aims at."""
        with self._pace.session(save=False) as state:
            return state.ceiling

    @property
    def throttles(self) -> int:
        """429s met by the account's callers sharing this pace."""
        with self._pace.session(save=False) as state:
            return state.throttles

    @property
    def episode(self) -> int:
        """The 429 episodes so far. A caller that took a slot, waited for it and finds this
        changed takes a new one: its slot was spaced for a pace that just failed, and sent now it
        would only meet the refusal that put the account on hold."""
        with self._pace.session(save=False) as state:
            return state.episodes

    def _now(self) -> float:
        return self._clock()

    def reserve(self, *, waited: bool = False) -> float:
        """Take the next start slot; the seconds to wait before sending (0 when unlimited).

        :param waited: the caller has just waited out a 429's ``Retry-After`` itself (the hook's
            retry): the pause is not waited twice.
        """
        with self._pace.session() as state:
            now = self._now()
            if state.rate is not None and now - state.last > IDLE_RESET:
                state.rate = state.ceiling = None
                state.accepted.clear()
            if state.first is None:
                state.first = now
            state.members[self._member] = now
            for member, seen in list(state.members.items()):
                if seen < now - MEMBER_WINDOW:
                    del state.members[member]
            slot = max(now, state.next, now if waited else state.resumed)
            # Idle counts from the last request's start, not its reservation: threads that sat out
            # a long Retry-After together are not idle, and must not come back unpaced.
            state.last = max(state.last, slot)
            if state.rate is not None:
                state.next = slot + 1.0 / state.rate
            return slot - now

    def hold(self) -> float:
        """Seconds until the last ``Retry-After`` has passed (0 when none holds the account)."""
        with self._pace.session(save=False) as state:
            return max(0.0, state.resumed - self._now())

    def on_success(self) -> None:
        """An answer that was not a 429: the API accepted the request."""
        with self._pace.session() as state:
            now = self._now()
            state.last = max(state.last, now)
            state.accepted.append(now)
            state.answered_since_429 = True
            # Kept sorted and short: the history behind a first pace, nothing older.
            state.accepted[:] = [stamp for stamp in state.accepted if stamp >= now - GOODPUT_WINDOW]
            if state.rate is None:
                return
            target = RECOVERY_TARGET * state.ceiling if state.ceiling is not None else 0.0
            # Answers that land during the pause come from requests sent before the 429: no
            # evidence of room, so no recovery for them either.
            if state.rate < target and now >= state.grown_at:
                state.rate += RECOVERY * (target - state.rate)
            # An answer to a request that was in flight when the 429 came lands before
            # ``grown_at`` (the end of the pause): no growth for it, and never a negative one,
            # which would drive the pace below zero and switch pacing off for good.
            elapsed = min(max(0.0, now - state.grown_at), 1.0)
            state.grown_at = max(state.grown_at, now)
            boost = 2.0 ** min(max(0.0, now - state.throttled_at) / PROBE_DOUBLING, 10.0)
            # Each process sharing the pace adds its own step, so a machine running n tasks takes
            # n shares of the limit beside machines that run one, as n separate paces would.
            step = state.step * _flows(state)
            state.rate = min(MAX_RATE, state.rate + step * elapsed * boost)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429: slow down, and hold every request until ``retry_after`` has passed.

        :param retry_after: the pause in seconds, already capped by the caller (the hook caps it
            at its ``retry_after_max``, as it caps its own wait).
        """
        with self._pace.session() as state:
            now = self._now()
            state.last = max(state.last, now)
            state.throttles += 1
            pause = max(0.0, retry_after or 0.0)
            if not state.answered_since_429:
                # The same refusal again (a burst of 429s, requests that were in flight): one cut
                # per episode, as TCP cuts once per loss event, or a burst would floor the pace.
                state.resumed = max(state.resumed, now + pause)
                return
            state.answered_since_429 = False
            state.throttled_at = now
            # Slots taken before are void (see :attr:`episode`): the new schedule starts after
            # the pause (``resumed``), at the new pace.
            state.episodes += 1
            state.next = now
            if state.rate is not None:
                # The pace that failed, or what the API accepted lately if that was less: with the
                # pauses between them, short bursts can pass at twice the limit, and recovering to
                # such a pace would only bring the next 429 sooner.
                measured = _accepted_rate(state, now)
                state.ceiling = state.rate if measured is None else min(state.rate, measured)
                # One 429 is one process's loss: of n paces sharing the limit, one would be cut.
                cut = (1.0 - BACKOFF) / _flows(state)
                state.rate = max(MIN_RATE, (1.0 - cut) * state.ceiling)
            else:
                # The first pace is a measured share already, not a rate that just failed.
                first = _goodput(state, now, pause)
                if first is not None:
                    state.rate = min(MAX_RATE, max(MIN_RATE, first))
                    # What recovery aims at: the burst the API let through, over at least the
                    # second a token bucket's burst lasts: the limit's rate, or this pace's share
                    # of it, without the pause that makes the first pace a cautious one.
                    burst = _goodput(state, now, 0.0, BURST_SPAN)
                    state.ceiling = min(MAX_RATE, max(state.rate, burst or 0.0))
                    state.step = PROBE_STEP
                    state.grown_at = now + pause
            # Too little history to measure (the start-up burst): only the pause is known.
            state.resumed = max(state.resumed, now + pause)


def _flows(state: PaceState) -> int:
    """How many processes share this pace (1 for a pace kept in the process)."""
    return max(1, len(state.members))


def _accepted_rate(state: PaceState, now: float) -> float | None:
    """Requests/s the API accepted over the last :data:`GOODPUT_WINDOW` (None with less history)."""
    if state.first is None or now - state.first < GOODPUT_WINDOW:
        return None
    count = sum(1 for stamp in state.accepted if stamp >= now - GOODPUT_WINDOW)
    return max(MIN_RATE, count / GOODPUT_WINDOW)


def _goodput(state: PaceState, now: float, pause: float, span: float = MIN_SPAN) -> float | None:
    """The first pace: what the API accepted lately, spread over that time and the pause.

    A token-bucket limit first lets a burst of about a second's worth through, then refuses:
    the share of that burst these callers got, over the time it took plus the pause the API
    asks for, is close to their share of the limit. None when nothing was accepted yet.
    """
    start = max(now - GOODPUT_WINDOW, state.first if state.first is not None else now)
    count = sum(1 for stamp in state.accepted if stamp >= start)
    if not count:
        return None
    return count / max(now - start + pause, span)


_pacers: dict[tuple[str, str], AdaptivePacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(base_url: str, api_key: str) -> AdaptivePacer:
    """The process's pacer of one account (base URL and key); created on first use."""
    account = (base_url, hashlib.sha256(api_key.encode()).hexdigest()[:32])
    with _pacers_lock:
        pacer = _pacers.get(account)
        if pacer is None:
            shared_name = hashlib.sha256("\n".join(account).encode()).hexdigest()[:32]
            pacer = _pacers[account] = AdaptivePacer(pace=pace_for(shared_name))
        return pacer


def forget_pacers() -> None:
    """Drop every pacer (tests; a new account state in a long-lived process)."""
    with _pacers_lock:
        _pacers.clear()


def start_waits(pacer: AdaptivePacer | None, *, waited: bool = False) -> Iterator[float]:
    """The seconds a request waits before it starts, in turn: wait out each, then take the next.

    A slot taken before a 429 that came meanwhile is void (:attr:`AdaptivePacer.episode`), so
    after each wait the slot is checked and, if void, a new one taken; the iteration ends with the
    slot that holds. Without a pacer there is one wait of 0. Both hooks start every request here,
    the sync one sleeping each wait and the async one awaiting it, so they pace alike.

    :param waited: as for :meth:`AdaptivePacer.reserve`, for the first slot only.
    """
    if pacer is None:
        yield 0.0
        return
    while True:
        episode = pacer.episode
        yield pacer.reserve(waited=waited)
        if pacer.episode == episode:
            return
        waited = False
