"""Drive the deployment as an operations team does: Airflow's REST API through its official client.

Trigger runs, wait for them, read task instances, XComs and logs, mark a running task failed.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import requests
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api.connection_api import ConnectionApi
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.models import (
    ConnectionBody,
    DAGPatchBody,
    DAGRunClearBody,
    PatchTaskInstanceBody,
    TriggerDAGRunPostBody,
)

#: Task-instance states after which nothing more happens to a run.
FINISHED_RUN = {"success", "failed"}
PAGE = 1000


def state_name(state: Any) -> str:
    """``"success"`` for the client's state enums (and for ``None``, ``"none"``)."""
    return str(getattr(state, "value", state)).lower()


class AirflowRest:
    """The REST API of one Airflow api-server.

    :param base_url: e.g. ``http://127.0.0.1:8080`` (the client adds ``/api/v2``).
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = ApiClient(Configuration(host=base_url))
        self.dags = DAGApi(self.client)
        self.runs = DagRunApi(self.client)
        self.tis = TaskInstanceApi(self.client)
        self.xcoms = XComApi(self.client)
        self.connections = ConnectionApi(self.client)

    def set_connection(self, conn_id: str, conn_type: str, host: str, password: str) -> None:
        """Create or replace a connection in the metadata database."""
        body = ConnectionBody(connection_id=conn_id, conn_type=conn_type, host=host, password=password)
        try:
            self.connections.get_connection(conn_id)
        except Exception:
            self.connections.post_connection(body)
        else:
            self.connections.patch_connection(conn_id, body)

    def unpause(self, dag_id: str, timeout: float = 180.0) -> None:
        """Unpause a DAG once the dag-processor has parsed it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.dags.patch_dag(dag_id, DAGPatchBody(is_paused=False))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: datetime | None = None
    ) -> str:
        """Start a run; its run id."""
        self.unpause(dag_id)
        body = TriggerDAGRunPostBody(conf=conf or {}, logical_date=logical_date)
        return str(self.runs.trigger_dag_run(dag_id, body).dag_run_id)

    def trigger_interval(
        self, dag_id: str, start: datetime, end: datetime, conf: dict[str, Any] | None = None
    ) -> str:
        """Start a run of one data interval, as a backfill of that interval would."""
        self.unpause(dag_id)
        body = TriggerDAGRunPostBody(
            conf=conf or {}, logical_date=start, data_interval_start=start, data_interval_end=end
        )
        return str(self.runs.trigger_dag_run(dag_id, body).dag_run_id)

    def scheduler_health(self) -> str:
        """The scheduler's status in the api-server's health check: ``healthy`` or ``unhealthy``."""
        answer = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=30)
        answer.raise_for_status()
        return str(answer.json()["scheduler"]["status"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return state_name(self.runs.get_dag_run(dag_id, run_id).state)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Poll until the run finished; its state. Fails the test on timeout, listing task states."""
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in FINISHED_RUN:
            if time.monotonic() > deadline:
                counts = self.state_counts(dag_id, run_id)
                raise AssertionError(f"{dag_id} {run_id} still {state} after {timeout:.0f} s: {counts}")
            time.sleep(2)
        return state

    def failures(self, dag_id: str, run_id: str, limit: int = 3) -> str:
        """The run's task states and the end of its first failed tries' logs: an assertion's message."""
        failed = [ti for ti in self.task_instances(dag_id, run_id) if state_name(ti.state) == "failed"]
        tails = [
            f"--- {ti.task_id}[{ti.map_index}] try {ti.try_number}:\n"
            + self.log(dag_id, run_id, ti.task_id, ti.try_number, ti.map_index)[-3000:]
            for ti in failed[:limit]
        ]
        return "\n".join([str(self.state_counts(dag_id, run_id)), *tails])

    def clear(self, dag_id: str, run_id: str) -> None:
        """Run the same run (the same data interval) again."""
        self.runs.clear_dag_run(dag_id, run_id, DAGRunClearBody(dry_run=False))

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[Any]:
        """Every task instance of the run (every map index), optionally of one task."""
        found: list[Any] = []
        while True:
            page = self.tis.get_task_instances(
                dag_id, run_id, task_id=task_id, limit=PAGE, offset=len(found)
            ).task_instances
            found += page
            if len(page) < PAGE:
                return found

    def state_counts(self, dag_id: str, run_id: str, task_id: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ti in self.task_instances(dag_id, run_id, task_id):
            counts[state_name(ti.state)] = counts.get(state_name(ti.state), 0) + 1
        return counts

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.tis.get_task_instance(dag_id, run_id, task_id)

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The task's return value."""
        entry = self.xcoms.get_xcom_entry(
            dag_id, task_id, run_id, "return_value", map_index=map_index, deserialize=True
        )
        # The client wraps the answer in a union type (native or string value).
        return getattr(entry, "actual_instance", entry).value

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task try's log as text."""
        response = self.tis.get_log(
            dag_id,
            run_id,
            task_id,
            try_number,
            full_content=True,
            map_index=map_index,
            accept="application/json",
        )
        content = response.content if hasattr(response, "content") else response
        if isinstance(content, list):
            # Each line may come wrapped in the client's union type.
            lines = (getattr(line, "actual_instance", line) for line in content)
            return "\n".join(str(getattr(line, "event", line)) for line in lines)
        return str(content)

    def fail(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Mark a task instance failed: a running one is killed on its worker."""
        self.tis.patch_task_instance(dag_id, run_id, task_id, PatchTaskInstanceBody(new_state="failed"))
