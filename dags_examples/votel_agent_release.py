"""Agent release: sync an AI agent's knowledge base from the repo, deploy a new version, test-call it.

Shows a release pipeline for a voice agent: the Markdown files in ``dags_examples/knowledge_base``
become exactly the agent's knowledge base (added, changed and removed documents reconciled), the
agent's configuration is snapshotted as a version and deployed, then a test call is placed with
the new version and waited for in the triggerer, and its outcome is checked. Rerunning the DAG
with unchanged documents adds nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from votel_airflow.operators.agents import (
    DeployAgentVersionOperator,
    StartCallOperator,
    SyncKnowledgeBaseOperator,
)

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
POKE_INTERVAL = float(os.environ.get("VOTEL_EXAMPLES_POKE_INTERVAL", "10"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
KNOWLEDGE_BASE = str(Path(__file__).resolve().parent / "knowledge_base")

with DAG(
    dag_id="votel_agent_release",
    description="Knowledge base from the repo -> new agent version deployed -> test call checked.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["votel", "example", "agents", "release"],
    default_args={
        # Safe to retry: the sync recomputes the difference, the snapshot and the call are kept in
        # the task state store and carry idempotency keys.
        "retries": 1,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "agent_name": Param("Support Line", type="string", description="The agent to release."),
        "knowledge_base_dir": Param(KNOWLEDGE_BASE, type="string", description="Folder of documents."),
        "test_number": Param("+12025550301", type="string", description="E.164 number for the test call."),
        "expected_outcomes": Param(
            ["booked", "callback_requested"], type="array", description="Test call outcomes that pass."
        ),
    },
    doc_md=__doc__
    + """
### Parameters
- `agent_name`: the agent to release (found by name).
- `knowledge_base_dir`: the documents (a local folder or any `ObjectStoragePath` URL); each file is
  a document titled by its path inside the folder.
- `test_number`: who the test call rings (a number ending in 1 books a meeting in the sandbox).
- `expected_outcomes`: the outcomes that count as a passing test call.

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).
""",
) as dag:
    # Each operator finds the agent by name when it runs: exactly one agent must have it.
    agent_name = "{{ params.agent_name }}"

    # --8<-- [start:release]
    sync_kb = SyncKnowledgeBaseOperator(
        task_id="sync_knowledge_base",
        votel_conn_id=VOTEL_CONN_ID,
        agent_name=agent_name,
        folder="{{ params.knowledge_base_dir }}",
    )
    deploy = DeployAgentVersionOperator(
        task_id="deploy_new_version",
        votel_conn_id=VOTEL_CONN_ID,
        agent_name=agent_name,  # no version_id: snapshot the current config, then deploy it
    )
    test_call = StartCallOperator(
        task_id="test_call",
        votel_conn_id=VOTEL_CONN_ID,
        agent_name=agent_name,
        to="{{ params.test_number }}",
        variables={"release": "{{ run_id }}"},
        deferrable=True,  # start the call, then wait for its end in the triggerer
        poke_interval=POKE_INTERVAL,
        timeout=900,
        fail_on=["failed", "busy", "no_answer", "canceled"],
    )

    @task
    def check_outcome(call: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fail the release when the test call did not end the way a good agent's call does."""
        expected = (params or {})["expected_outcomes"]
        if call.get("outcome") not in expected:
            raise ValueError(
                f"test call {call.get('id')} ended {call.get('status')}/{call.get('outcome')}, "
                f"expected an outcome in {expected}: {call.get('summary')}"
            )
        return {"call_id": call["id"], "outcome": call["outcome"], "duration": call.get("duration_seconds")}

    sync_kb >> deploy >> test_call
    check_outcome(test_call.output)
    # --8<-- [end:release]
