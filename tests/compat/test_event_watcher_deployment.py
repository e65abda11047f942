"""On a real deployment of each minor, an event watcher's cursor outlives a SIGKILLed triggerer.

The unit tests play Airflow's side of a restart; here a real triggerer runs the watcher (3.0 to 3.2:
alone, its cursor in a Variable read and written through the API server; 3.3: in a shared stream,
the group's cursor saved once Airflow stored the event). Replies sent while no triggerer runs must
become asset events when a new one starts, and none already stored may come again. The replies
before the kill are left time to settle (5 s on 3.0 to 3.2), so the test asks exactly once of
every minor: what 3.0 to 3.2 repeat inside that window is shown by the unit tests, not here.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.deployment import START_TIMEOUT, Deployment, running_deployment
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

DAG_ID = "votel_event_watcher_restart"
ASSET = "votel_compat_inbound"
DAG_SOURCE = """
import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher
from airflow.providers.standard.operators.empty import EmptyOperator

from votel_airflow.triggers.events import VotelEventTrigger

INBOUND = Asset(
    "__ASSET__",
    watchers=[
        AssetWatcher(name="inbound", trigger=VotelEventTrigger(event="message.inbound", poll_interval=1))
    ],
)

with DAG("__DAG_ID__", schedule=[INBOUND], start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    EmptyOperator(task_id="noop")
"""
#: Seconds the replies before the kill are left to be stored and recorded (3.0 to 3.2: 5 s after each).
SETTLE = 7.0


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def own_deployment(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment of this test's own: it kills the triggerer, which no other test may see."""
    # A new triggerer takes over the lost one's triggers once it is this many seconds silent.
    health = {"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5"}
    with running_deployment(tmp_path, sandbox, tmp_path / "dags", extra_env=health) as deployment:
        source = DAG_SOURCE.replace("__DAG_ID__", DAG_ID).replace("__ASSET__", ASSET)
        deployment.add_dag(DAG_ID, textwrap.dedent(source))
        yield deployment


def _asset_events(deployment: Deployment) -> list[dict[str, Any]] | None:
    """The asset's events; None while the API server cannot say (SQLite busy: it answers 500)."""
    got = deployment.api("GET", "/api/v2/assets", params={"name_pattern": ASSET})
    if got.status_code != 200:
        return None
    if not got.json()["assets"]:
        return []
    query = {"asset_id": got.json()["assets"][0]["id"], "limit": 1000}
    listed = deployment.api("GET", "/api/v2/assets/events", params=query)
    if listed.status_code != 200:
        return None
    events: list[dict[str, Any]] = listed.json()["asset_events"]
    return events


def _at_least(deployment: Deployment, count: int) -> list[dict[str, Any]] | None:
    events = _asset_events(deployment)
    return events if events is not None and len(events) >= count else None


def _reply(sandbox: SandboxServer, hook: VotelHook, n: int) -> str:
    contact = hook.request(
        "POST", endpoints.CONTACTS, json={"first_name": f"C {n}", "phone": f"+1202555{n:04d}"}
    )
    return str(sandbox.admin.inject_inbound(sandbox.api_keys[0], contact["id"], f"reply {n}")["id"])


def test_replies_sent_while_the_triggerer_is_lost_come_once_from_the_next(
    own_deployment: Deployment, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = own_deployment
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": sandbox.api_keys[0]}
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
    hook = VotelHook()
    deployment.unpause(DAG_ID)
    deployment.wait_for(
        "the watcher started", lambda: "delivering events from" in deployment.log("triggerer"), START_TIMEOUT
    )
    sent = [_reply(sandbox, hook, n) for n in range(3)]
    deployment.wait_for("3 asset events", lambda: _at_least(deployment, 3), START_TIMEOUT)
    time.sleep(SETTLE)

    lost = deployment.procs.pop("triggerer")
    os.killpg(lost.pid, signal.SIGKILL)
    lost.wait(20)
    sent += [_reply(sandbox, hook, n) for n in range(3, 6)]
    deployment.start("triggerer", "--skip-serve-logs")
    deployment.wait_for("6 asset events", lambda: _at_least(deployment, 6), START_TIMEOUT)
    time.sleep(5)  # a repeat would come within a few polls

    events = deployment.wait_for("the asset events", lambda: _asset_events(deployment), START_TIMEOUT)
    delivered = [e["extra"]["payload"]["id"] for e in events]
    assert delivered == sent, (delivered, sent, deployment.tails())
    assert "Resuming" in deployment.log("triggerer")
