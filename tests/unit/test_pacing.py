"""The adaptive pacer: unlimited until a 429, a first fair share, AIMD after, one pacer per account."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
