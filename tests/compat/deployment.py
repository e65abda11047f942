"""The harness of the real-deployment tests: Airflow's processes, their logs, and a REST client.

``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` run as separate
processes against one metadata DB (SQLite, LocalExecutor), the way a deployment does. Starting
one takes about a minute, so the tests share one (``shared_deployment`` in conftest.py): each
copies its DAG file into a folder of its own under the deployment's DAGs folder (files a DAG
writes beside itself stay that test's) and reaches the sandbox through an account and a
connection of its own (``DeploymentTenant``). A test that kills a process starts its own
deployment with :func:`running_deployment`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
import requests

from dev.demo import DemoHome, free_port
from votel_airflow.sandbox.server import SandboxServer

T = TypeVar("T")

#: The example DAGs, which the tests copy into a deployment's DAGs folder.
EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"

# The scheduler and the triggerer would each serve logs on a fixed port on every interface; the
# tests read the log files instead.
PROCESSES = {"scheduler": ["--skip-serve-logs"], "dag-processor": [], "triggerer": ["--skip-serve-logs"]}
START_TIMEOUT = 180.0
RUN_TIMEOUT = 300.0
#: Calls last long enough in the deployments' sandbox for every wait to reach the triggerer.
CALL_STAGE_SECONDS = 6.0
FINISHED = ("success", "failed")


class DagRun(NamedTuple):
    """A run the deployment finished: its id and final state."""

    run_id: str
    state: str


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

    def __init__(self, root: Path, env: dict[str, str], port: int, dags_folder: Path) -> None:
        self.root = root
        self.env = env
        self.base = f"http://127.0.0.1:{port}"
        self.dags_folder = dags_folder
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

    def task_logs(self, dag_id: str) -> str:
        """Every task log of one DAG (other tests' DAGs log beside it in a shared deployment)."""
        logs = self.root / "logs" / f"dag_id={dag_id}"
        return "".join(p.read_text(errors="replace") for p in sorted(logs.rglob("*.log")))

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

    def wait_for(self, what: str, ready: Callable[[], T | None], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = ready()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f}s\n{self.tails()}"
            time.sleep(1)

    def add_dag(self, dag_id: str, source: str) -> Path:
        """Put a DAG file in a folder of its own under the DAGs folder; returns that folder."""
        folder = self.dags_folder / dag_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{dag_id}.py"
        if not path.exists() or path.read_text() != source:
            path.write_text(source)
        return folder

    def unpause(self, dag_id: str) -> None:
        """Wait until the DAG processor parsed the DAG, then unpause it."""
        self.wait_for(
            f"the DAG processor parsed {dag_id}",
            lambda: self.api("GET", f"/api/v2/dags/{dag_id}").status_code == 200,
            START_TIMEOUT,
        )
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause the DAG once parsed and start a run through the REST API; returns its id."""
        self.unpause(dag_id)
        body = {"logical_date": None, "conf": dict(conf or {})}
        started = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        assert started.status_code in (200, 201), started.text
        return str(started.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        """The run's final state (``success`` or ``failed``), once it has one."""

        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in FINISHED else None

        return self.wait_for(f"the run {run_id} of {dag_id} finished", finished, timeout)

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state; None while the API server cannot say (SQLite busy: it answers 500)."""
        got = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return str(got.json()["state"]) if got.status_code == 200 else None

    def fail_unfinished(self, dag_id: str, run_id: str) -> None:
        """Mark a run failed unless it finished, so that a later run of a DAG limited to one active
        run is not left queued behind a test that stopped half-way."""
        if self.run_state(dag_id, run_id) not in FINISHED:
            self.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})

    def run_dag(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = RUN_TIMEOUT
    ) -> DagRun:
        """Parse, unpause, trigger and wait: the finished run's id and state."""
        run_id = self.trigger(dag_id, conf)
        return DagRun(run_id, self.wait_for_run(dag_id, run_id, timeout))

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
        """``{(task_id, map_index): state}`` of every task instance of the run."""
        got = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        got.raise_for_status()
        return {(ti["task_id"], ti["map_index"]): ti["state"] for ti in got.json()["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """A task's return value as the JSON stored (deserializing is off by default on 3.0)."""
        got = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"stringify": "false", "map_index": map_index},
        )
        assert got.status_code == 200, got.text
        value = got.json()["value"]
        return json.loads(value) if isinstance(value, str) else value

    def add_connection(self, conn_id: str, conn: Mapping[str, Any]) -> None:
        """Store a connection in the metadata DB, where every process of the deployment reads it."""
        body = {"connection_id": conn_id, **conn}
        self.api("POST", "/api/v2/connections", json=body).raise_for_status()

    def stop(self) -> None:
        for proc in self.procs.values():
            _stop(proc)


@contextmanager
def running_deployment(
    root: Path, sandbox: SandboxServer, dags_folder: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Deployment]:
    """A migrated DB and the four processes, ``votel_default`` on the sandbox's first account."""
    home = DemoHome(root / "airflow")
    home.root.mkdir(parents=True)
    dags_folder.mkdir(parents=True, exist_ok=True)
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
            **(extra_env or {}),
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
    deployment = Deployment(home.root, env, port, dags_folder)
    try:
        deployment.start("api-server", "--port", str(port))
        for name, args in PROCESSES.items():
            deployment.start(name, *args)
        deployment.login()
        yield deployment
    finally:
        deployment.stop()


@dataclass(frozen=True)
class DeploymentTenant:
    """A fresh sandbox account of one test, and ``conn_id``, a connection to it in the deployment."""

    sandbox: SandboxServer
    api_key: str
    conn_id: str


def add_tenant(
    deployment: Deployment, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> DeploymentTenant:
    """A fresh account, reached through a new connection by the deployment and by this process.

    A test's records then hold only what its own run did, whatever ran before in the deployment.
    """
    api_key = sandbox.admin.create_account()
    conn_id = f"votel_{secrets.token_hex(6)}"
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": api_key}
    deployment.add_connection(conn_id, conn)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return DeploymentTenant(sandbox, api_key, conn_id)
