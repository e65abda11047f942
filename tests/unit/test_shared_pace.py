"""One pace per machine: the processes of one account share it through a locked file, count as
one flow each in it, and fall back to a pace of their own where the file cannot be used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from votel_airflow.hooks import pacing
from votel_airflow.hooks.pace_store import DIR_VARIABLE, PaceState, SharedPace
from votel_airflow.hooks.pacing import AdaptivePacer, pacer_for
from votel_airflow.hooks.votel import VotelHook

from .conftest import API, KEY
from .test_pacing import Clock, _accept

REPO = Path(__file__).resolve().parents[2]


def _two_processes(path: Path, clock: Clock) -> tuple[AdaptivePacer, AdaptivePacer]:
    """Two pacers over one file: what two processes of the machine hold (each opens it anew)."""
    return AdaptivePacer(clock, SharedPace(path, clock)), AdaptivePacer(clock, SharedPace(path, clock))


def test_a_429_met_by_one_process_paces_and_holds_the_others_of_the_machine(tmp_path: Path) -> None:
    clock = Clock()
    first, second = _two_processes(tmp_path / "account.json", clock)
    _accept(first, clock, 5, 0.05)
    _accept(second, clock, 5, 0.05)

    first.on_throttled(1.0)

    assert second.rate is not None
    assert second.rate == first.rate
    assert second.hold() == pytest.approx(1.0)
    # One schedule for both: their slots after the pause are one pace's interval apart.
    waits = [second.reserve(), first.reserve(), second.reserve()]
    assert waits[1] - waits[0] == pytest.approx(1 / first.rate)
    assert waits[2] - waits[1] == pytest.approx(1 / first.rate)


def test_processes_of_one_account_share_the_pace_through_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    child = (
        "from votel_airflow.hooks.pacing import pacer_for\n"
        "import sys\n"
        "pacer = pacer_for(sys.argv[1], sys.argv[2])\n"
        "for _ in range(10):\n"
        "    pacer.reserve(); pacer.on_success()\n"
        "pacer.on_throttled(30.0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", child, API, KEY], check=True, env=env, timeout=60)

    pacer = pacer_for(API, KEY)

    assert pacer.shared
    assert pacer.rate is not None
    assert 25.0 < pacer.hold() <= 30.0
    assert KEY not in "".join(path.read_text() + path.name for path in tmp_path.iterdir())


def test_each_process_sharing_a_pace_counts_as_one_flow(tmp_path: Path) -> None:
    clock = Clock()
    first, second = _two_processes(tmp_path / "account.json", clock)
    _accept(first, clock, 5, 0.1)
    _accept(second, clock, 5, 0.1)
    first.on_throttled(1.0)
    clock.now += 1.0
    _accept(second, clock, 40, 0.05)  # accepted faster than the pace: the pace is what is cut
    paced = first.rate
    assert paced is not None

    second.on_throttled(1.0)

    # A 429 is one process's loss: of two flows, one is cut, so the pace loses half of a cut.
    assert first.rate == pytest.approx(paced * (1 - (1 - pacing.BACKOFF) / 2))


def test_a_process_that_stopped_sending_no_longer_counts_as_a_flow(tmp_path: Path) -> None:
    clock = Clock()
    first, second = _two_processes(tmp_path / "account.json", clock)
    _accept(first, clock, 5, 0.1)
    _accept(second, clock, 5, 0.1)
    first.on_throttled(1.0)
    clock.now += pacing.MEMBER_WINDOW + 1.0  # the second process's task finished
    _accept(first, clock, 40, 0.05)
    paced = first.rate
    assert paced is not None

    first.on_throttled(1.0)

    assert first.rate == pytest.approx(paced * pacing.BACKOFF)


def test_a_slot_taken_before_a_429_is_given_up_for_a_new_one(
    requests_mock: Any, votel_conn: None, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    requests_mock.get(f"{API}/agents", json=[])
    hook = VotelHook()
    pacer = hook.pacer
    assert pacer is not None
    reserve = pacer.reserve
    delays: list[float] = []

    def reserve_then_another_caller_meets_a_429(**kwargs: Any) -> float:
        delay = reserve(**kwargs)
        delays.append(delay)
        if len(delays) == 1:
            pacer.on_throttled(2.0)  # while this request waits for its slot
        return delay

    monkeypatch.setattr(pacer, "reserve", reserve_then_another_caller_meets_a_429)

    hook.get("/agents")

    assert requests_mock.call_count == 1
    # Its first slot was void: it took a second one, behind the account's pause.
    assert len(delays) == 2
    assert delays[1] == pytest.approx(2.0, abs=0.5)


def test_an_answer_in_flight_during_a_pause_does_not_start_a_new_episode(tmp_path: Path) -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock, SharedPace(tmp_path / "account.json", clock))
    _accept(pacer, clock, 5, 0.1)
    pacer.on_throttled(1.0)
    episode = pacer.episode

    pacer.on_throttled(1.0)  # the 429 of another request that was in flight

    assert pacer.episode == episode


def test_the_pace_after_a_429_is_no_faster_than_what_the_api_accepted_lately() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.1)
    pacer.on_throttled(1.0)
    clock.now += 1.0
    _accept(pacer, clock, 20, 0.01)  # recovery lifts the pace towards the burst's rate
    clock.now += pacing.GOODPUT_WINDOW + 0.1  # then a quiet spell: 2 accepted in the window
    _accept(pacer, clock, 2, 0.0)
    assert pacer.rate is not None
    assert pacer.rate > 2.0

    pacer.on_throttled(1.0)

    measured = 2 / pacing.GOODPUT_WINDOW
    assert pacer.ceiling == pytest.approx(max(pacing.MIN_RATE, measured))
    assert pacer.rate == pytest.approx(max(pacing.MIN_RATE, pacing.BACKOFF * measured))


def test_the_first_pace_recovers_towards_the_burst_the_api_let_through() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.02)  # a burst of 10 in 0.18 s (from the first slot)

    pacer.on_throttled(1.0)

    assert pacer.rate == pytest.approx(10 / 1.18, rel=0.01)
    assert pacer.ceiling == pytest.approx(10 / pacing.BURST_SPAN, rel=0.01)


def test_without_a_shared_folder_each_process_paces_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DIR_VARIABLE, "")

    assert not pacer_for(API, KEY).shared


def test_a_folder_that_cannot_be_made_keeps_the_pace_in_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(DIR_VARIABLE, str(blocker / "pacing"))

    pacer = pacer_for(API, KEY)

    assert not pacer.shared
    pacer.reserve()
    pacer.on_throttled(1.0)
    assert pacer.hold() > 0


def test_a_pace_file_that_cannot_be_opened_degrades_to_a_pace_of_the_process(tmp_path: Path) -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock, SharedPace(tmp_path / "missing" / "account.json", clock))
    _accept(pacer, clock, 5, 0.1)

    pacer.on_throttled(1.0)

    assert pacer.rate is not None
    assert pacer.hold() == pytest.approx(1.0)


def test_a_pace_file_written_before_a_reboot_or_cut_short_is_learned_afresh(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "account.json"
    pacer = AdaptivePacer(clock, SharedPace(path, clock))
    _accept(pacer, clock, 5, 0.1)
    pacer.on_throttled(3600.0)
    assert pacer.hold() > 0
    stored = json.loads(path.read_text())

    path.write_text(json.dumps({**stored, "boot": stored["boot"] - 3600.0}))  # another boot's clock
    assert pacer.hold() == 0.0
    assert pacer.rate is None

    path.write_text('{"rate": 3.0, "nex')  # a write cut short
    assert pacer.rate is None
    assert pacer.reserve() == 0.0


def test_a_pace_whose_state_shrinks_is_read_back_whole(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "account.json"
    pacer = AdaptivePacer(clock, SharedPace(path, clock))
    _accept(pacer, clock, 50, 0.01)  # fifty stamps of accepted requests in the file
    longest = path.stat().st_size
    clock.now += pacing.GOODPUT_WINDOW + 1.0
    pacer.on_success()  # the old stamps leave the window: a shorter state over a longer one
    pacer.on_throttled(1.0)

    assert path.stat().st_size < longest
    assert pacer.rate is not None
    assert pacer.hold() == pytest.approx(1.0)


def test_the_pace_file_is_rewritten_in_place_never_truncated_to_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ext4 flushes a file truncated to zero and written again when it is closed: milliseconds
    # of disk per pass, four passes per request.
    clock = Clock()
    pacer = AdaptivePacer(clock, SharedPace(tmp_path / "account.json", clock))
    sizes: list[int] = []
    truncate = os.ftruncate

    def recording_truncate(handle: int, length: int) -> None:
        sizes.append(length)
        truncate(handle, length)

    monkeypatch.setattr(os, "ftruncate", recording_truncate)

    _accept(pacer, clock, 5, 0.1)
    pacer.on_throttled(1.0)

    assert sizes
    assert 0 not in sizes


def test_reading_the_pace_does_not_write_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock, SharedPace(tmp_path / "account.json", clock))
    _accept(pacer, clock, 5, 0.1)
    pacer.on_throttled(1.0)
    writes: list[int] = []
    pwrite = os.pwrite

    def recording_pwrite(handle: int, data: bytes, offset: int) -> int:
        writes.append(len(data))
        return pwrite(handle, data, offset)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)

    readings = (pacer.episode, pacer.rate, pacer.ceiling, pacer.throttles, pacer.hold())

    assert readings[1] is not None
    assert writes == []
    pacer.reserve()
    assert len(writes) == 1  # a slot taken is a change, and is saved


def test_a_pace_file_of_the_previous_release_is_read_and_stays_readable_to_it(tmp_path: Path) -> None:
    # Both releases may run on one machine during an upgrade: they share the file's flat object.
    clock = Clock()
    path = tmp_path / "account.json"
    boot = time.time() - clock.now
    earlier = PaceState(rate=3.0, ceiling=4.0, throttles=2, last=clock.now)
    path.write_text(json.dumps({**asdict(earlier), "boot": boot}))
    pacer = AdaptivePacer(clock, SharedPace(path, clock))

    assert (pacer.rate, pacer.ceiling, pacer.throttles) == (3.0, 4.0, 2)
    pacer.reserve()
    stored = json.loads(path.read_text())
    assert stored.pop("boot") == pytest.approx(boot, abs=1.0)
    assert PaceState(**stored).rate == 3.0


def test_the_next_slot_after_a_429_is_the_end_of_the_pause_at_the_new_pace() -> None:
    clock = Clock()
    pacer = AdaptivePacer(clock)
    _accept(pacer, clock, 10, 0.1)
    pacer.on_throttled(1.0)
    clock.now += 1.0
    queued = [pacer.reserve() for _ in range(20)]  # slots queued seconds ahead, then void
    assert queued[-1] > 2.0
    pacer.on_success()  # the first of them answered

    pacer.on_throttled(1.0)  # the second met a 429

    assert pacer.reserve() == pytest.approx(1.0)
