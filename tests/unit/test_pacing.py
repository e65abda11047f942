"""The adaptive pacer: unlimited until a 429, a first fair share, AIMD after, one pacer per account."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from votel_airflow.hooks import pacing
from votel_airflow.hooks.pacing import AdaptivePacer, pacer_for
from votel_airflow.hooks.votel import VotelHook

from .conftest import API, KEY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _accept(pacer: AdaptivePacer, clock: Clock, count: int, every: float) -> None:
    for _ in range(count):
        clock.now += every
        pacer.reserve()
        pacer.on_success()


def test_a_pacer_that_never_met_a_429_never_delays() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)

    _accept(pacer, clock, 50, 0.001)

    assert pacer.rate is None
    assert pacer.reserve() == 0.0


def test_nothing_leaves_before_retry_after_except_the_retry_that_waited_it_out() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 4, 0.1)

    pacer.on_throttled(2.0)

    assert pacer.reserve(waited=True) == 0.0
    assert pacer.reserve() == pytest.approx(2.0)


def test_the_first_pace_is_the_accepted_share_over_the_time_it_took_and_the_pause() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    clock.now += 0.001
    pacer.reserve()
    _accept(pacer, clock, 3, 0.1)  # 3 accepted in 0.3 s, then a 429 asking for 1 s

    pacer.on_throttled(1.0)

    assert pacer.rate == pytest.approx(3 / 1.3, rel=0.01)


def test_a_429_without_any_accepted_request_only_pauses() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    pacer.reserve()

    pacer.on_throttled(1.0)

    assert pacer.rate is None
    assert pacer.reserve() == pytest.approx(1.0)


def test_later_429s_cut_the_pace_multiplicatively() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.1)
    pacer.on_throttled(1.0)
    clock.now += 1.0
    pacer.on_success()
    first = pacer.rate
    assert first is not None

    pacer.on_throttled(1.0)

    assert pacer.rate == pytest.approx(pacing.BACKOFF * first)


def test_a_burst_of_429s_cuts_the_pace_once_but_holds_the_pause() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.1)
    pacer.on_throttled(1.0)
    clock.now += 1.0
    pacer.on_success()
    paced = pacer.rate
    assert paced is not None

    for _ in range(4):  # one refusal episode: no answer in between
        pacer.on_throttled(1.0)
        clock.now += 0.5

    assert pacer.rate == pytest.approx(pacing.BACKOFF * paced)
    assert pacer.reserve() == pytest.approx(0.5)


def test_two_paces_of_one_account_grow_by_the_same_step_so_shares_even_out() -> None:
    # A fast and a slow process gain the same requests/s per second, while each 429 cuts a pace
    # by the same factor: the gap between them shrinks, as between TCP flows sharing a link.
    clocks = [Clock(), Clock()]
    pacers = [AdaptivePacer(clocks[0]), AdaptivePacer(clocks[1])]
    for pacer, clock, every in zip(pacers, clocks, (0.05, 0.5), strict=True):
        _accept(pacer, clock, 6, every)
        pacer.on_throttled(0.0)
    before = [p.rate or 0.0 for p in pacers]
    for pacer, clock in zip(pacers, clocks, strict=True):
        for _ in range(8):
            clock.now += 0.25
            pacer.on_success()
    gains = [(p.rate or 0.0) - b for p, b in zip(pacers, before, strict=True)]

    assert before[0] > 4 * before[1]
    assert gains[1] > 0
    assert gains[0] == pytest.approx(gains[1])


def test_the_pace_is_forgotten_after_a_long_idle_spell() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.1)
    pacer.on_throttled(1.0)
    assert pacer.rate is not None

    clock.now += pacing.IDLE_RESET + 1

    assert pacer.reserve() == 0.0
    assert pacer.rate is None


def test_hooks_of_one_account_share_one_pacer_and_other_accounts_have_their_own(set_connection: Any) -> None:
    set_connection()
    set_connection(password="sk_other_account_key_0123456789", conn_id="votel_other")

    first, second, other = VotelHook(), VotelHook(), VotelHook("votel_other")

    assert first.pacer is second.pacer is pacer_for(API, KEY)
    assert other.pacer is not first.pacer
    assert KEY not in repr(vars(first.pacer))


def test_adaptive_pacing_false_turns_the_pacer_off(set_connection: Any) -> None:
    set_connection(extra=json.dumps({"adaptive_pacing": False}))

    assert VotelHook().pacer is None


def test_a_429_slows_every_later_request_of_the_process(
    requests_mock: Any, votel_conn: None, sleeps: list[float]
) -> None:
    requests_mock.get(
        f"{API}/agents",
        [{"status_code": 200, "json": []}] * 5
        + [{"status_code": 429, "json": {"detail": "slow"}, "headers": {"Retry-After": "1"}}]
        + [{"status_code": 200, "json": []}] * 5,
    )
    hook = VotelHook()
    for _ in range(5):
        hook.get("/agents")
    sleeps.clear()

    hook.get("/agents")  # the 429, its retry after Retry-After
    for _ in range(4):
        hook.get("/agents")

    assert hook.pacer is not None
    assert hook.pacer.rate is not None
    # Waits for the pace's slots beyond the hook's one Retry-After wait.
    assert len(sleeps) > 1


def test_an_answer_in_flight_during_a_long_retry_after_leaves_the_pace_positive() -> None:
    # The reproduction of issue 21: 40 accepted in 2 s, a 429 asking for 60 s, then the 200 of a
    # request that was in flight. The pace used to drop from 0.646 to -1.168 requests/s, and every
    # later slot then waited 0 s: pacing off for good.
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 40, 0.05)
    pacer.on_throttled(60.0)
    first = pacer.rate
    assert first == pytest.approx(40 / 62, rel=0.01)

    pacer.on_success()

    assert pacer.rate == pytest.approx(first)
    clock.now += 60.0
    waits = [pacer.reserve() for _ in range(3)]
    assert waits[1] - waits[0] == pytest.approx(1 / first)
    assert waits[2] - waits[1] == pytest.approx(1 / first)


def test_threads_that_sat_out_a_retry_after_longer_than_the_idle_reset_stay_paced() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 40, 0.05)
    pacer.on_throttled(pacing.IDLE_RESET + 10)
    waits = [pacer.reserve() for _ in range(4)]  # every thread takes a slot after the pause

    clock.now += waits[-1] + 0.1

    assert pacer.reserve() > 0.0
    assert pacer.rate is not None


_seconds = st.floats(min_value=0.0, max_value=2.0)
_retry_after = st.floats(min_value=0.0, max_value=3600.0)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("accept"), _seconds),
        st.tuples(st.just("answer"), _seconds),  # the answer of a request already in flight
        st.tuples(st.just("throttle"), _seconds, st.none() | st.sampled_from([1.0, 60.0]) | _retry_after),
        st.tuples(st.just("reserve"), _seconds, st.booleans()),
        st.tuples(st.just("jump"), st.floats(min_value=0.0, max_value=3 * pacing.IDLE_RESET)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=_steps)
def test_the_pace_stays_between_its_floor_and_ceiling_and_pacing_never_switches_itself_off(
    steps: list[tuple[Any, ...]],
) -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    last_seen = -math.inf  # the latest slot handed out or answer taken
    for step in steps:
        clock.now += step[1]
        idle = clock.now - last_seen
        before = pacer.rate
        if step[0] == "accept":
            wait = pacer.reserve()
            assert 0.0 <= wait < math.inf
            clock.now += wait
            pacer.on_success()
        elif step[0] == "answer":
            pacer.on_success()
        elif step[0] == "throttle":
            pacer.on_throttled(step[2])
        elif step[0] == "reserve":
            wait = pacer.reserve(waited=step[2])
            paced = pacer.rate
            following = pacer.reserve(waited=step[2])
            assert 0.0 <= wait <= following < math.inf
            if paced is not None:
                # Slots taken at one instant are a whole interval apart: pacing is on.
                assert following >= wait + 1 / paced - 1e-9
            last_seen = max(last_seen, clock.now + following)
        if step[0] != "jump":
            last_seen = max(last_seen, clock.now)
        for value in (pacer.rate, pacer.ceiling):
            assert value is None or pacing.MIN_RATE <= value <= pacing.MAX_RATE
        if before is not None and pacer.rate is None:
            # The one way back to unlimited: a minute without a request to the account.
            assert idle > pacing.IDLE_RESET


def test_the_pause_a_429_puts_on_every_caller_of_the_account_is_capped_by_retry_after_max(
    requests_mock: Any, votel_conn: None, sleeps: list[float]
) -> None:
    requests_mock.get(
        f"{API}/agents",
        [{"status_code": 200, "json": []}] * 3
        + [{"status_code": 429, "json": {"detail": "slow"}, "headers": {"Retry-After": "3600"}}]
        + [{"status_code": 200, "json": []}] * 3,
    )
    throttled = VotelHook(retry_after_max=5)
    for _ in range(4):  # the fourth meets the 429 and waits it out itself, capped
        throttled.get("/agents")
    sleeps.clear()

    VotelHook(retry_after_max=5).get("/agents")  # another caller of the account

    assert sleeps
    assert 0 < max(sleeps) <= 5.0
