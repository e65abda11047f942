"""Nightly CRM sync: Votel activity into files and a SQL table, warehouse leads into Votel contacts.

Shows the scheduled-pipeline side of the provider: the three log extractors writing the run's
data interval to files declared as Assets, a contact export job awaited in the triggerer, a bulk
upsert of leads from a file, and the extracted call logs loaded into a SQL table through Airflow's
``common-sql`` machinery, idempotently, so a rerun or a backfill of a day leaves the same rows.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Asset, Param, task

# In airflow.sdk only from Airflow 3.2; the provider's compat module finds it on 3.0 and 3.1 too.
from votel_airflow.compat import CronDataIntervalTimetable
from votel_airflow.operators.activity import (
    CallLogExtractOperator,
    MeetingLogExtractOperator,
    MessagingLogExtractOperator,
)
from votel_airflow.operators.contacts import ContactExportOperator, UpsertContactsOperator

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
DATA_DIR = os.environ.get("VOTEL_DATA_DIR", "/tmp/votel-data")
# Seconds between checks of a job while it waits in the triggerer, and before a retry.
POKE_INTERVAL = float(os.environ.get("VOTEL_EXAMPLES_POKE_INTERVAL", "10"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
LEADS_FILE = str(Path(__file__).resolve().parent / "data" / "leads.jsonl")
CALL_LOG_TABLE = "votel_call_logs"
DAY = "{{ data_interval_start | ds }}"

# Every column is portable SQL (SQLite, Postgres, Snowflake, ...); `window_start` names the data
# interval a row was loaded for, which is what makes the load idempotent.
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {CALL_LOG_TABLE} (
    id VARCHAR(64) PRIMARY KEY,
    window_start VARCHAR(40) NOT NULL,
    agent_id VARCHAR(64),
    contact_id VARCHAR(64),
    direction VARCHAR(16),
    from_number VARCHAR(32),
    to_number VARCHAR(32),
    status VARCHAR(16),
    outcome VARCHAR(32),
    created_at VARCHAR(40),
    duration_seconds INTEGER,
    cost DOUBLE PRECISION,
    summary TEXT
)
"""
COLUMNS = (
    "id", "window_start", "agent_id", "contact_id", "direction", "from_number", "to_number",
    "status", "outcome", "created_at", "duration_seconds", "cost", "summary",
)  # fmt: skip

# Assets other DAGs can be scheduled on: one per kind of extract (the files are per day inside).
CALL_LOGS = Asset(name="votel_call_logs", uri=f"file://{DATA_DIR}/call_logs/")
MEETING_LOGS = Asset(name="votel_meeting_logs", uri=f"file://{DATA_DIR}/meeting_logs/")
MESSAGING_LOGS = Asset(name="votel_messaging_logs", uri=f"file://{DATA_DIR}/messaging_logs/")
CONTACTS = Asset(name="votel_contacts", uri=f"file://{DATA_DIR}/contacts/")
WAREHOUSE_CALLS = Asset(name="votel_warehouse_call_logs", uri=f"sql://votel_warehouse/{CALL_LOG_TABLE}")


def _row(record: dict[str, Any], window_start: str) -> tuple[Any, ...]:
    return (
        record["id"], window_start, record.get("agent_id"), record.get("contact_id"),
        record.get("direction"), record.get("from"), record.get("to"), record.get("status"),
        record.get("outcome"), record.get("created_at"), record.get("duration_seconds"),
        record.get("cost"), record.get("summary"),
    )  # fmt: skip


with DAG(
    dag_id="votel_nightly_crm_sync",
    description="Votel logs and contacts to files and SQL; warehouse leads to Votel contacts.",
    # A data-interval timetable: each run covers exactly one UTC day, so a backfill of any day
    # extracts and loads the same rows as the original run did.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["votel", "example", "etl", "crm"],
    default_args={
        # Every task here is safe to retry: extracts rewrite the same file atomically, the import
        # re-attaches to its jobs, and the SQL load replaces the interval's rows.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "data_dir": Param(DATA_DIR, type="string", description="Folder (or URL) for the extracts."),
        "leads_file": Param(LEADS_FILE, type="string", description="JSONL or CSV of leads to upsert."),
        "sql_conn_id": Param("votel_warehouse", type="string", description="Any Airflow SQL connection."),
    },
    doc_md=__doc__
    + """
### Parameters
The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).
- `data_dir`: where the day's files go: a local folder or any `ObjectStoragePath` URL (`s3://...`).
  Defaults to `$VOTEL_DATA_DIR`, else `/tmp/votel-data`.
- `leads_file`: the warehouse leads to upsert (JSON lines or CSV), matched on phone.
- `sql_conn_id`: the SQL connection the call logs are loaded into (default `votel_warehouse`).

### The warehouse
`votel_warehouse` is any Airflow SQL connection. The embedded default is SQLite, e.g.
`AIRFLOW_CONN_VOTEL_WAREHOUSE=sqlite:////tmp/votel-data/warehouse.db`. To grow, point the same
connection id (or `sql_conn_id`) at Postgres (`postgresql://user:pass@host:5432/db`, with
`apache-airflow-providers-postgres`) or Snowflake (`apache-airflow-providers-snowflake`): the
table DDL and the load use portable SQL and the hook's own placeholder.

### Reruns
The load deletes the interval's rows (`window_start`) and inserts them again, with `id` as the
primary key: clearing or backfilling a day never duplicates a row.
""",
) as dag:
    conn_id = VOTEL_CONN_ID

    # --8<-- [start:extract]
    extract_calls = CallLogExtractOperator(
        task_id="extract_call_logs",
        votel_conn_id=conn_id,
        destination="{{ params.data_dir }}/call_logs/" + DAY + ".jsonl",
        outlets=[CALL_LOGS],
    )
    extract_meetings = MeetingLogExtractOperator(
        task_id="extract_meeting_logs",
        votel_conn_id=conn_id,
        destination="{{ params.data_dir }}/meeting_logs/" + DAY + ".jsonl",
        outlets=[MEETING_LOGS],
    )
    extract_messages = MessagingLogExtractOperator(
        task_id="extract_messaging_logs",
        votel_conn_id=conn_id,
        destination="{{ params.data_dir }}/messaging_logs/" + DAY + ".jsonl",
        outlets=[MESSAGING_LOGS],
    )
    # --8<-- [end:extract]

    # --8<-- [start:upsert]
    upsert_leads = UpsertContactsOperator(
        task_id="upsert_leads",
        votel_conn_id=conn_id,
        source="{{ params.leads_file }}",
        match_on="phone",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
    )
    export_contacts = ContactExportOperator(
        task_id="export_contacts",
        votel_conn_id=conn_id,
        destination="{{ params.data_dir }}/contacts/" + DAY + ".jsonl",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        outlets=[CONTACTS],
    )
    # --8<-- [end:upsert]

    # --8<-- [start:sql_load]
    create_table = SQLExecuteQueryOperator(
        task_id="create_call_log_table",
        conn_id="{{ params.sql_conn_id }}",
        sql=CREATE_TABLE,
    )

    @task(outlets=[WAREHOUSE_CALLS])
    def load_call_logs(manifest: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Replace the interval's rows in the call log table with the extracted file's rows."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import ObjectStoragePath

        from votel_airflow.compat import BaseHook  # in airflow.sdk only from Airflow 3.1

        sql_conn_id = (params or {})["sql_conn_id"]
        hook = BaseHook.get_connection(sql_conn_id).get_hook()
        if not isinstance(hook, DbApiHook):
            raise TypeError(f"connection {sql_conn_id!r} is not a SQL connection")
        window = manifest["since"]
        # read(), not iteration: Airflow 3.0's file wrapper cannot be iterated line by line.
        with ObjectStoragePath(manifest["uri"]).open("r") as stream:
            rows = [_row(json.loads(line), window) for line in stream.read().splitlines() if line.strip()]
        # Delete-then-insert keyed by the interval: a rerun replaces exactly what it loaded before.
        hook.run(
            f"DELETE FROM {CALL_LOG_TABLE} WHERE window_start = {hook.placeholder}", parameters=(window,)
        )
        if rows:
            hook.insert_rows(CALL_LOG_TABLE, rows, target_fields=COLUMNS, commit_every=1000)
        count = hook.get_first(
            f"SELECT COUNT(*) FROM {CALL_LOG_TABLE} WHERE window_start = {hook.placeholder}",
            parameters=(window,),
        )[0]
        return {"table": CALL_LOG_TABLE, "window_start": window, "rows": int(count)}

    loaded = load_call_logs(extract_calls.output)
    create_table >> loaded
    # --8<-- [end:sql_load]

    # Leads go in before the export, so the exported contacts include tonight's leads.
    upsert_leads >> export_contacts
