"""Event-driven DAG on the deployment: inbound replies become asset events, across a lost triggerer.

The example ``votel_reply_followup`` is scheduled on an asset that ``VotelEventTrigger`` watches in
the triggerer. 200 replies arrive before the triggerer is SIGKILLed, while it is down and after it
is back; they must become exactly 200 asset events (none lost, none twice), and the follow-up DAG's
runs, however Airflow batches the events into runs, must make exactly one CRM task per reply.

This deployment's scheduler runs with ``[scheduler] use_job_schedule`` off (so no scheduled run
disturbs another scenario), which also stops it from creating asset-triggered runs: for this
scenario the scheduler is restarted with it on, every other unpaused DAG paused meanwhile, and
both are put back at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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
#: Replies sent before the kill, while the triggerer is down, and once it is back.
BEFORE, MEANWHILE, AFTER = 20, 160, 20
#: The custom field the example DAG names a reply's task by (``votel_reply_followup.REPLY_FIELD``).
REPLY_FIELD = "votel_reply_id"


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


@contextmanager
def _asset_triggered_runs(cluster: Cluster, airflow: AirflowRest) -> Iterator[None]:
    """The scheduler creates asset-triggered runs meanwhile, and only for this scenario's DAG."""
    api = f"{airflow.base_url}/api/v2"
    listed = requests.get(f"{api}/dags", params={"paused": "false", "limit": 1000}, timeout=30).json()
    others = [d["dag_id"] for d in listed["dags"] if d["dag_id"] != DAG_ID]
    for dag_id in others:
        requests.patch(f"{api}/dags/{dag_id}", json={"is_paused": True}, timeout=30).raise_for_status()
    scheduler = cluster.service("scheduler")
    usual = dict(scheduler.env)
    scheduler.stop()
    scheduler.env = {**usual, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}
    scheduler.start()
    try:
        yield
    finally:
        scheduler.stop()
        scheduler.env = usual
        scheduler.start()
        for dag_id in others:
            airflow.unpause(dag_id)


def _runs_done(airflow: AirflowRest) -> list[dict[str, Any]]:
    api = f"{airflow.base_url}/api/v2"
    runs: list[dict[str, Any]] = requests.get(
        f"{api}/dags/{DAG_ID}/dagRuns", params={"limit": 1000}, timeout=30
    ).json()["dag_runs"]
    return runs


def _tasks_for(hook: VotelHook, replies: list[str]) -> Counter[str]:
    wanted = set(replies)
    made = ((task.get("custom_fields") or {}).get(REPLY_FIELD) for task in hook.paginate(endpoints.TASKS))
    return Counter(reply for reply in made if reply in wanted)


def test_replies_sent_around_a_lost_triggerer_become_one_asset_event_and_one_task_each(
    cluster: Cluster, airflow: AirflowRest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cluster.sandbox is not None
    began = time.monotonic()
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_E2E_REPLIES",
        f'{{"conn_type": "votel", "host": "{cluster.sandbox.base_url}", '
        f'"password": "{cluster.api_keys["votel_default"]}"}}',
    )
    hook = VotelHook("votel_e2e_replies")
    with _asset_triggered_runs(cluster, airflow):
        airflow.unpause(DAG_ID)
        started = len(_asset_events(airflow))
        # A new watcher delivers the events from the moment it first runs: wait for the triggerer
        # to start it (it says where its cursor lives).
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
        triggerer.start()
        sent += [_reply(cluster, hook, 7300 + n) for n in range(AFTER)]
        _wait_for_events(airflow, started + len(sent), 240)
        time.sleep(10)  # a duplicate would arrive within a few polls
        events = _asset_events(airflow)[started:]
        delivered = [e["extra"]["payload"]["id"] for e in events]
        assert len(sent) == len(set(sent)) == BEFORE + MEANWHILE + AFTER
        assert sorted(delivered) == sorted(sent), (len(delivered), len(set(delivered)), len(sent))

        # The follow-up DAG: each run handles every asset event it was triggered by.
        deadline = time.monotonic() + 300
        while True:
            tasks = _tasks_for(hook, sent)
            runs = _runs_done(airflow)
            settled = runs and all(r["state"] in ("success", "failed") for r in runs)
            if (sum(tasks.values()) >= len(sent) and settled) or time.monotonic() > deadline:
                break
            time.sleep(3)
    assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"]) for r in runs]
    assert tasks == Counter(sent), (len(tasks), sum(tasks.values()))
    figure(
        "reply events, triggerer lost",
        replies=len(sent),
        asset_events=len(delivered),
        delivered_twice=len(delivered) - len(set(delivered)),
        followup_runs=len(runs),
        tasks_created=sum(tasks.values()),
        seconds=round(time.monotonic() - began, 1),
    )
