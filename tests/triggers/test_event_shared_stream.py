"""VotelEventTrigger on Airflow 3.3's shared streams: one poll per account and event, cursor after the store.

The triggerer's part is played by Airflow's own ``SharedStreamManager`` (3.3), driven as
``TriggerRunner.run_trigger`` drives it: a trigger with a ``shared_stream_key()`` reads the
group's stream through ``filter_shared_stream``, each event it yields is bound to a persist
sequence number, and the "supervisor" confirms the numbers it has stored. The sandbox is real.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.triggers import event_cursor, event_stream
from votel_airflow.triggers.events import VotelEventTrigger

shared_stream = pytest.importorskip("airflow.triggers.shared_stream")

#: Seconds a test waits for an event before it gives up: never reached by a passing test.
GIVE_UP = 60.0


class Variables:
    """Airflow's Variables, as the triggerer's trigger process reads and writes them, in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def cursor(self, key: str) -> Any:
        return _DictCursor(self.values, key)


class _DictCursor:
    def __init__(self, values: dict[str, Any], key: str) -> None:
        self.values, self.key, self.where = values, key, f"variable {key}"

    async def load(self) -> dict[str, Any] | None:
        return self.values.get(self.key)

    async def save(self, cursor: dict[str, Any]) -> None:
        self.values[self.key] = cursor


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> Variables:
    store = Variables()
    monkeypatch.setattr(event_cursor, "VariableCursor", store.cursor)
    return store


class Triggerer:
    """One triggerer process: its shared-stream manager, its triggers, and what it has stored."""

    def __init__(self) -> None:
        self.manager = shared_stream.SharedStreamManager(ack_timeout=GIVE_UP)
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.unconfirmed: list[int] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.store_events = True

    def start(self, trigger_id: int, trigger: VotelEventTrigger) -> None:
        self.events[trigger_id] = asyncio.Queue()
        self.tasks.append(asyncio.ensure_future(self._run(trigger_id, trigger)))

    async def _run(self, trigger_id: int, trigger: VotelEventTrigger) -> None:
        # As TriggerRunner.run_trigger: shared when the trigger names a key, else run() alone.
        key = trigger.shared_stream_key()
        if key is None:
            async for event in trigger.run():
                await self.events[trigger_id].put(event.payload)
            return
        stream = trigger.filter_shared_stream(
            self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        )
        try:
            async for event in stream:
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                if seq is not None:
                    self.unconfirmed.append(seq)
                await self.events[trigger_id].put(event.payload)
                if self.store_events:
                    self.confirm()
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    def confirm(self) -> None:
        """The supervisor stored every event handed over so far (and says so on its next sync)."""
        seqs, self.unconfirmed = self.unconfirmed, []
        self.manager.confirm_persisted(seqs)

    async def take(self, trigger_id: int, count: int) -> list[dict[str, Any]]:
        return [await asyncio.wait_for(self.events[trigger_id].get(), GIVE_UP) for _ in range(count)]

    async def lose(self) -> None:
        """SIGKILL: the triggerer stops wherever it is; nothing it held in memory survives."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.manager.stop_all()


def inbound(channel: str | None = None) -> VotelEventTrigger:
    return VotelEventTrigger(
        event="message.inbound", filters={"channel": channel} if channel else None, poll_interval=1
    )


def new_contact(hook: VotelHook, n: int) -> str:
    body = {"first_name": f"Lead {n}", "phone": f"+1415555{n:04d}", "email": f"lead{n}@example.com"}
    return str(hook.request("POST", endpoints.CONTACTS, json=body)["id"])


async def until(check: Any) -> None:
    for _ in range(int(GIVE_UP * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


def group_cursor(variables: Variables, trigger: VotelEventTrigger) -> dict[str, Any]:
    key = event_stream.group_cursor_key(trigger.event, trigger.votel_conn_id, trigger.poll_interval)
    return dict(variables.values.get(key) or {})


def test_watchers_of_one_account_and_event_share_one_poll_and_each_keeps_its_own_events(
    votel_sandbox: SandboxServer, votel_api_key: str, votel_connection: str, variables: Variables
) -> None:
    hook = VotelHook()
    watchers = {1: inbound("sms"), 2: inbound("email"), 3: inbound()}
    rounds = []
    reads = event_stream.event_reads

    class CountedReads:
        """The shared poll's reads, counted (a watcher polling alone reads past this)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(reads, name)

        async def read_events(self, *args: Any) -> Any:
            rounds.append(1)
            return await reads.read_events(*args)

    async def scenario() -> dict[int, list[str]]:
        triggerer = Triggerer()
        for trigger_id, trigger in watchers.items():
            triggerer.start(trigger_id, trigger)
        await until(lambda: variables.values)
        await asyncio.sleep(1.5)  # every watcher has started
        contact = new_contact(hook, 1)
        votel_sandbox.admin.reset_stats()
        rounds.clear()
        votel_sandbox.admin.inject_inbound(votel_api_key, contact, "by sms", channel="sms")
        votel_sandbox.admin.inject_inbound(votel_api_key, contact, "by mail", channel="email")
        got = {
            1: await triggerer.take(1, 1),
            2: await triggerer.take(2, 1),
            3: await triggerer.take(3, 2),
        }
        await triggerer.lose()
        return {k: [m["body"] for m in v] for k, v in got.items()}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(event_stream, "event_reads", CountedReads())
        got = asyncio.run(scenario())
    assert got == {1: ["by sms"], 2: ["by mail"], 3: ["by sms", "by mail"]}
    # One listing request per poll round for the three watchers (each round fits one page).
    paths = votel_sandbox.admin.stats()["paths"]
    polled = sum(n for path, n in paths.items() if path.endswith(endpoints.MESSAGING_LOGS))
    assert 0 < polled <= len(rounds) + 1, (paths, len(rounds))


def test_the_cursor_moves_only_once_airflow_has_stored_the_event(
    votel_sandbox: SandboxServer, votel_api_key: str, votel_connection: str, variables: Variables
) -> None:
    hook = VotelHook()
    trigger = inbound("sms")

    async def scenario() -> tuple[str, dict[str, Any], dict[str, Any]]:
        triggerer = Triggerer()
        triggerer.store_events = False
        triggerer.start(1, trigger)
        await until(lambda: group_cursor(variables, trigger))
        message = votel_sandbox.admin.inject_inbound(votel_api_key, new_contact(hook, 1), "hello")
        await triggerer.take(1, 1)
        await asyncio.sleep(2.5)  # two more polls: the watcher has long moved past the row
        before = group_cursor(variables, trigger)
        triggerer.confirm()
        await until(lambda: group_cursor(variables, trigger).get("id") == message["id"])
        after = group_cursor(variables, trigger)
        await triggerer.lose()
        return str(message["id"]), before, after

    reply, before, after = asyncio.run(scenario())
    assert before.get("id") != reply
    assert after["id"] == reply


def test_a_lost_triggerer_loses_no_event_and_repeats_none_that_airflow_stored(
    votel_sandbox: SandboxServer, votel_api_key: str, votel_connection: str, variables: Variables
) -> None:
    hook = VotelHook()

    async def scenario() -> tuple[list[str], list[str], list[str], list[str]]:
        first = Triggerer()
        first.start(1, inbound("sms"))
        await until(lambda: group_cursor(variables, inbound("sms")))
        stored = [
            str(votel_sandbox.admin.inject_inbound(votel_api_key, new_contact(hook, n), "early")["id"])
            for n in range(3)
        ]
        delivered = [m["id"] for m in await first.take(1, 3)]
        await until(lambda: group_cursor(variables, inbound("sms")).get("id") == stored[-1])
        # Handed over but not yet stored when the triggerer dies: must come again.
        first.store_events = False
        unstored = str(votel_sandbox.admin.inject_inbound(votel_api_key, new_contact(hook, 3), "x")["id"])
        await first.take(1, 1)
        await first.lose()
        meanwhile = [
            str(votel_sandbox.admin.inject_inbound(votel_api_key, new_contact(hook, n), "late")["id"])
            for n in range(4, 8)
        ]
        second = Triggerer()
        second.start(7, inbound("sms"))
        again = [m["id"] for m in await second.take(7, 5)]
        await asyncio.sleep(2.5)
        assert second.events[7].empty()
        await second.lose()
        return delivered, stored, again, [unstored, *meanwhile]

    delivered, stored, again, expected = asyncio.run(scenario())
    assert delivered == stored
    assert again == expected
