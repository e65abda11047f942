"""OpenLineage: an extract's COMPLETE event names the API it read, the file it wrote and the rows.

The OpenLineage provider registers its listener when Airflow loads plugins, once per process and
only if a transport is configured; the DAG therefore runs with ``dag.test()`` in a process of its
own, with the file transport writing every event to a JSON-lines file the test reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import write_dag
from votel_airflow.sandbox.server import SandboxServer

pytest.importorskip("airflow.providers.openlineage")

REPO = Path(__file__).resolve().parents[2]
LOGICAL_DATE = "2026-11-25T00:00:00+00:00"
#: Calls written into the tenant around the run's day, whichever side of it the data interval lies:
#: the seeded "recent" week follows the wall clock and a fixed logical date falls out of it.
CALLS_AROUND_THE_RUN = 24
DAG = """
from datetime import datetime

from airflow.sdk import DAG

from votel_airflow.operators.activity import CallLogExtractOperator
from votel_airflow.operators.contact_imports import UpsertContactsOperator
from votel_airflow.operators.contacts import ContactExportOperator

with DAG("lineage_dag", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    CallLogExtractOperator(task_id="extract_calls", destination="__OUT__/calls.parquet", format="parquet")
    UpsertContactsOperator(task_id="upsert_leads", source="__OUT__/leads.jsonl", poke_interval=0.1)
    ContactExportOperator(task_id="export_contacts", destination="__OUT__/contacts.jsonl", poke_interval=0.1)
"""


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _complete(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    found = [
        e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == f"lineage_dag.{task_id}"
    ]
    assert len(found) == 1, [(e["eventType"], e["job"]["name"]) for e in events]
    return found[0]


@pytest.fixture(scope="module")
def lineage_events(
    votel_sandbox: SandboxServer, airflow_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], Path, str]:
    root = tmp_path_factory.mktemp("lineage")
    out, dags = root / "out", root / "dags"
    out.mkdir()
    (out / "leads.jsonl").write_text(
        "\n".join(json.dumps({"first_name": f"Lin{i}", "phone": f"+1415555{7100 + i}"}) for i in range(3))
        + "\n"
    )
    write_dag(dags, DAG.replace("__OUT__", str(out)))
    key = votel_sandbox.admin.create_account()
    day = datetime.fromisoformat(LOGICAL_DATE)
    votel_sandbox.admin.generate_call_logs(
        key, CALLS_AROUND_THE_RUN, day - timedelta(days=1), day + timedelta(days=1)
    )
    events_file = root / "events.jsonl"
    env = {
        **os.environ,
        "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(
            {"conn_type": "votel", "host": votel_sandbox.base_url, "password": key}
        ),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "votel-tests",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.reliability.dag_process", str(dags), "lineage_dag", LOGICAL_DATE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return _events(events_file), out, votel_sandbox.base_url


def test_an_extract_emits_a_complete_event_with_the_api_the_file_and_the_row_count(
    lineage_events: tuple[list[dict[str, Any]], Path, str],
) -> None:
    import pyarrow.parquet as pq

    events, out, base_url = lineage_events
    event = _complete(events, "extract_calls")
    api = base_url.rsplit("/api", 1)[0]
    assert [(i["namespace"], i["name"]) for i in event["inputs"]] == [(api, "/activity/call-logs")]
    (output,) = event["outputs"]
    assert (output["namespace"], output["name"]) == ("file", str(out / "calls.parquet"))
    rows = pq.read_table(out / "calls.parquet").num_rows
    assert rows > 0  # the calls written around the run's day
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == rows
    schema = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert schema == {f.name: str(f.type) for f in pq.read_schema(out / "calls.parquet")}


def test_the_upsert_and_the_export_join_on_votels_contacts(
    lineage_events: tuple[list[dict[str, Any]], Path, str],
) -> None:
    events, out, base_url = lineage_events
    api = base_url.rsplit("/api", 1)[0]
    upsert = _complete(events, "upsert_leads")
    assert [(i["namespace"], i["name"]) for i in upsert["inputs"]] == [("file", str(out / "leads.jsonl"))]
    (written,) = upsert["outputs"]
    assert (written["namespace"], written["name"]) == (api, "/contacts")
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == 3
    export = _complete(events, "export_contacts")
    assert [(i["namespace"], i["name"]) for i in export["inputs"]] == [(api, "/contacts")]
    exported = len((out / "contacts.jsonl").read_text().splitlines())
    assert export["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == exported
    assert "schema" not in export["outputs"][0]["facets"]  # JSON lines declare no columns
