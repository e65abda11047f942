"""A real Airflow deployment runs a provider DAG: four processes, LocalExecutor, a REST-triggered run.

``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` run as separate
processes against one metadata DB, the way a deployment does; the run of ``votel_call_followup``
is triggered through the public REST API and makes calls, waits for each in the triggerer
(deferrable sensor), then books, e-mails and texts by outcome. What the sandbox recorded and what
the triggerer logged show that the provider's operators, its trigger and its hook all ran there.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dev.demo import DemoHome, free_port
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "votel_call_followup"
# The scheduler and the triggerer would each serve logs on a fixed port on every interface; the
# test reads the log files instead.
PROCESSES = {"scheduler": ["--skip-serve-logs"], "dag-processor": [], "triggerer": ["--skip-serve-logs"]}
START_TIMEOUT = 180.0
RUN_TIMEOUT = 300.0
CALL_STAGE_SECONDS = 6.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)
    except ProcessLookupError:
        pass


class Deployment:
    """The four Airflow processes of one deployment, their logs, and a REST client for it."""

    def __init__(self, root: Path, env: dict[str, str], port: int) -> None:
        self.root = root
        self.env = env
        self.base = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()

    def start(self, name: str, *args: str) -> None:
        with (self.root / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", name, *args],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n" + "\n".join(self.log(n).splitlines()[-25:]) for n in self.procs)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"Airflow processes exited: {dead}\n{self.tails()}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", timeout=30, **kwargs)

    def login(self) -> None:
        """Take a token; with every user an admin, the simple auth manager needs no password."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.check_alive()
            try:
                got = self.api("GET", "/auth/token")
                if got.status_code in (405, 422):
                    got = self.api("POST", "/auth/token", json={})
                if got.status_code in (200, 201):
                    token = got.json()["access_token"]
                    self.session.headers["Authorization"] = f"Bearer {token}"
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the API server did not come up\n{self.tails()}"
            time.sleep(1)

    def wait_for(self, what: str, ready: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = ready()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f}s\n{self.tails()}"
            time.sleep(1)

    def stop(self) -> None:
        for proc in self.procs.values():
            _stop(proc)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Calls that last long enough for every wait to reach the triggerer."""
    with SandboxServer(call_stage_seconds=CALL_STAGE_SECONDS) as server:
        yield server


@pytest.fixture
def dags_folder() -> Path:
    """The deployment's DAG folder (a module that runs DAGs of its own overrides this)."""
    return REPO / "dags_examples"


@pytest.fixture
def deployment(sandbox: SandboxServer, tmp_path: Path, dags_folder: Path) -> Iterator[Deployment]:
    home = DemoHome(tmp_path / "airflow")
    home.root.mkdir(parents=True)
    env = home.environment(sandbox, sandbox.api_keys[0], dags_folder)
    port = free_port()
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Every process signs and checks the execution API's tokens with the same secret, as
            # Airflow's docs ask of any deployment of several processes. Everything else about
            # tokens (issuer, audience, algorithm) stays at Airflow's defaults, as a user leaves it.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "VOTEL_EXAMPLES_POKE_INTERVAL": "1",
        }
    )
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    deployment = Deployment(home.root, env, port)
    try:
        deployment.start("api-server", "--port", str(port))
        for name, args in PROCESSES.items():
            deployment.start(name, *args)
        deployment.login()
        yield deployment
    finally:
        deployment.stop()


def _dag_known(deployment: Deployment) -> bool:
    return deployment.api("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200


def test_a_rest_triggered_run_sends_and_waits_in_the_triggerer(
    deployment: Deployment, sandbox: SandboxServer
) -> None:
    api_key = sandbox.api_keys[0]
    deployment.wait_for("the DAG processor parsed the DAG", lambda: _dag_known(deployment), START_TIMEOUT)
    deployment.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()

    started = deployment.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
    assert started.status_code in (200, 201), started.text
    run_id = started.json()["dag_run_id"]

    def finished() -> str | None:
        state = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    state = deployment.wait_for("the run finished", finished, RUN_TIMEOUT)
    tis = deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
    states = {(ti["task_id"], ti.get("map_index", -1)): ti["state"] for ti in tis["task_instances"]}
    shown = json.dumps({f"{k[0]}[{k[1]}]": v for k, v in states.items()})
    assert state == "success", shown + deployment.tails()

    # Three people called once each; the unanswered one (number ending in 0) texted once.
    calls = sandbox.admin.records(api_key, "call")
    assert sorted(c["recipient"] for c in calls) == ["+12025550201", "+12025550210", "+12025550224"], calls
    sms = sandbox.admin.records(api_key, "sms")
    assert [m["recipient"] for m in sms] == ["+12025550210"], sms
    # The waits ran in the triggerer process: each went through the deferred state.
    waits = [(key[1], v) for key, v in states.items() if key[0] == "wait_for_call"]
    assert sorted(waits) == [(0, "success"), (1, "success"), (2, "success")], states
    for map_index, _ in waits:
        assert _was_deferred(deployment, run_id, "wait_for_call", map_index), deployment.tails()


def _was_deferred(deployment: Deployment, run_id: str, task_id: str, map_index: int) -> bool:
    """Whether the task's log shows it handed its wait to the triggerer and resumed from it."""
    logs = deployment.root / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    text = "".join(p.read_text(errors="replace") for p in logs.glob(f"map_index={map_index}/*.log"))
    return "defer" in text.lower() and "trigger" in text.lower()
