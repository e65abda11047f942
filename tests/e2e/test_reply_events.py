"""Event-driven DAG on the deployment: inbound replies become asset events, across a lost triggerer.

The example ``votel_reply_followup`` is scheduled on an asset that ``VotelEventTrigger`` watches in
the triggerer. Replies arrive before the triggerer is SIGKILLed and while it is down; each must
become an asset event: none lost, and those sent while it was down exactly once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest
from tests.e2e.watch import figure
from votel_airflow import endpoints
from votel_airflow.hooks.votel import VotelHook

pytestmark = pytest.mark.e2e

DAG_ID = "votel_reply_followup"
ASSET = "votel_inbound_sms"
BEFORE, MEANWHILE = 5, 5


def _asset_events(airflow: AirflowRest) -> list[dict[str, Any]]:
    api = f"{airflow.base_url}/api/v2"
    assets = requests.get(f"{api}/assets", params={"name_pattern": ASSET}, timeout=30).json()["assets"]
    if not assets:
        return []
    query = {"asset_id": assets[0]["id"], "limit": 1000}
    events: list[dict[str, Any]] = requests.get(f"{api}/assets/events", params=query, timeout=30).json()[
        "asset_events"
    ]
    return events


def _wait_for_events(airflow: AirflowRest, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events = _asset_events(airflow)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(2)


def _diagnosis(cluster: Cluster, airflow: AirflowRest) -> str:
    api = f"{airflow.base_url}/api/v2"
    assets = requests.get(f"{api}/assets", params={"name_pattern": ASSET}, timeout=30).text
    lines = [
        line
        for line in cluster.log_of("triggerer").read_text().splitlines()
        if "Votel" in line or "vent" in line
    ]
    errors = cluster.log_of("dag-processor").read_text()[-3000:]
    return f"assets: {assets[:1500]}\ntriggerer: {lines[-30:]}\ndag-processor: {errors}"


def _reply(cluster: Cluster, hook: VotelHook, n: int) -> str:
    assert cluster.sandbox is not None
    contact = hook.request(
        "POST", endpoints.CONTACTS, json={"first_name": f"E2E {n}", "phone": f"+1202555{n:04d}"}
    )
    message = cluster.sandbox.admin.inject_inbound(
        cluster.api_keys["votel_default"], contact["id"], f"question {n}"
    )
    return str(message["id"])


def test_replies_sent_while_the_triggerer_is_lost_each_become_one_asset_event(
    cluster: Cluster, airflow: AirflowRest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cluster.sandbox is not None
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_E2E_REPLIES",
        f'{{"conn_type": "votel", "host": "{cluster.sandbox.base_url}", '
        f'"password": "{cluster.api_keys["votel_default"]}"}}',
    )
    hook = VotelHook("votel_e2e_replies")
    airflow.unpause(DAG_ID)
    started = len(_asset_events(airflow))
    # A new watcher delivers the events from the moment it first runs: wait for the triggerer to
    # start it (it says where its cursor lives).
    deadline = time.monotonic() + 180
    while "delivering events from" not in cluster.log_of("triggerer").read_text():
        assert time.monotonic() < deadline, _diagnosis(cluster, airflow)
        time.sleep(2)
    sent = [_reply(cluster, hook, 7000 + n) for n in range(BEFORE)]
    first = _wait_for_events(airflow, started + BEFORE, 120)
    assert len(first) == started + BEFORE, _diagnosis(cluster, airflow)

    triggerer = cluster.service("triggerer")
    triggerer.kill()
    sent += [_reply(cluster, hook, 7100 + n) for n in range(MEANWHILE)]
    time.sleep(5)
    triggerer.start()
    events = _wait_for_events(airflow, started + BEFORE + MEANWHILE, 180)
    time.sleep(15)  # a duplicate would arrive within a few polls
    events = _asset_events(airflow)[started:]

    delivered = [e["extra"]["payload"]["id"] for e in events]
    # None lost; the replies sent while no triggerer ran arrive exactly once. A reply delivered in
    # the few seconds before the kill may arrive twice (its cursor was not recorded yet: see
    # docs/guides/event-driven.md), which the DAG must absorb.
    assert set(delivered) == set(sent), (len(delivered), len(sent))
    assert all(delivered.count(reply) == 1 for reply in sent[BEFORE:]), delivered
    duplicates = len(delivered) - len(sent)
    # The follow-up DAG's runs are not checked here: this deployment's scheduler runs with
    # [scheduler] use_job_schedule off (so no scheduled run disturbs another scenario), which also
    # stops it from creating asset-triggered runs. tests/dags/test_reply_followup.py runs the DAG.
    figure(
        "reply events, triggerer lost",
        replies=len(sent),
        asset_events=len(delivered),
        delivered_twice=duplicates,
    )
