"""Where an event trigger keeps its cursor: in Airflow, never in the trigger.

Airflow keeps no trigger state across a triggerer restart: the new triggerer rebuilds each watcher
from its serialized arguments. So the last event delivered is written to Airflow, under a key
derived from what the watcher watches (event, connection, filters; not the poll interval):

* **Airflow 3.3**, a group of watchers sharing one poll (:mod:`.event_stream`): a Variable named
  after the group, saved only once Airflow has stored the group's events.
* **Airflow 3.3**, a watcher run alone: the watched asset's state store
  (``BaseEventTrigger.asset_state_store``, which the triggerer hands to a watcher before it
  runs). A trigger that several assets watch has no single store to use, and falls back to the
  next home, saying so.
* **Airflow 3.0 to 3.2** (and the case above): an Airflow Variable named ``votel_event_cursor.<key>``,
  which the triggerer reads and writes through its API server like any Variable.

If neither can be reached, the trigger says so in an ERROR log line and keeps its cursor in memory:
after a restart it starts again from the moment it starts (events meanwhile are not delivered).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Protocol

from votel_airflow.compat import optional
from votel_airflow.triggers.loop_log import log_aside

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "votel_event_cursor."


def cursor_key(event: str, votel_conn_id: str, filters: dict[str, Any]) -> str:
    """A stable name for the cursor of one watcher (one event, connection and set of filters)."""
    what = json.dumps([event, votel_conn_id, filters], sort_keys=True)
    return f"{event}.{hashlib.sha256(what.encode()).hexdigest()[:16]}"


class CursorStore(Protocol):
    """Load and save one watcher's cursor."""

    where: str

    async def load(self) -> dict[str, Any] | None: ...

    async def save(self, cursor: dict[str, Any]) -> None: ...


class AssetStateCursor:
    """The cursor in the watched asset's state store (Airflow 3.3)."""

    def __init__(self, accessors: Any, key: str) -> None:
        self.accessors = accessors
        self.key = key
        self.where = f"the watched asset's state store, key {key!r}"

    async def load(self) -> dict[str, Any] | None:
        value = await self.accessors.aget(self.key)
        return value if isinstance(value, dict) else None

    async def save(self, cursor: dict[str, Any]) -> None:
        await self.accessors.aset(self.key, cursor)


class VariableCursor:
    """The cursor in an Airflow Variable (Airflow 3.0 to 3.2)."""

    def __init__(self, key: str) -> None:
        self.name = VARIABLE_PREFIX + key
        self.where = f"Airflow Variable {self.name!r}"

    async def load(self) -> dict[str, Any] | None:
        value = await _in_thread(_variable().get, self.name, None)
        if value is None:
            return None
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else None

    async def save(self, cursor: dict[str, Any]) -> None:
        await _in_thread(_variable().set, self.name, json.dumps(cursor))


class MemoryCursor:
    """The last resort: a cursor that does not outlive this triggerer."""

    where = "this triggerer's memory only"

    def __init__(self) -> None:
        self.cursor: dict[str, Any] | None = None

    async def load(self) -> dict[str, Any] | None:
        return self.cursor

    async def save(self, cursor: dict[str, Any]) -> None:
        self.cursor = cursor


def _variable() -> Any:
    variable = optional("Variable")
    if variable is None:
        raise RuntimeError("airflow.sdk.Variable is not available")
    return variable


async def _in_thread(function: Any, *args: Any) -> Any:
    # The triggerer's Variable calls are synchronous round trips to its supervisor: Airflow asks
    # triggers to make them through asgiref's sync_to_async, off the event loop.
    from asgiref.sync import sync_to_async

    return await sync_to_async(function)(*args)


async def open_store(accessors: Any, key: str) -> tuple[CursorStore, dict[str, Any] | None]:
    """The first cursor home that answers, and the cursor it holds (None: none yet).

    :param accessors: the trigger's ``asset_state_store`` (None before Airflow 3.3).
    """
    stores: list[CursorStore] = []
    if accessors is not None:
        stores.append(AssetStateCursor(accessors, key))
    stores.append(VariableCursor(key))
    for store in stores:
        try:
            return store, await store.load()
        except Exception as exc:
            await log_aside(
                log, logging.WARNING, "Cannot read the event cursor from %s: %s", store.where, exc
            )
    await log_aside(
        log,
        logging.ERROR,
        "No cursor home in Airflow answered: the cursor of %s lives in this triggerer only, so events "
        "that happen while no triggerer runs will not be delivered",
        key,
    )
    return MemoryCursor(), None
