"""Emergency stop: pause every running campaign and cancel every call in flight for an agent.

The kill switch for outreach gone wrong (a wrong message, a misbehaving agent): trigger it by
hand, from an alert or through the REST API. Each step is safe to repeat, so a second run (or a
retry) only stops what is still going: a campaign paused already and a call that ended meanwhile
are reported, never errors. Resuming is deliberate and separate (``ResumeCampaignOperator``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from votel_airflow.operators.activity import CancelCallOperator
from votel_airflow.operators.settings import VotelListOperator
from votel_airflow.operators.workflows import PauseCampaignOperator

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "10")))

with DAG(
    dag_id="votel_emergency_stop",
    description="Pause every running campaign; cancel every call in flight for an agent.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["votel", "example", "kill-switch"],
    default_args={
        # Safe to retry: pausing a paused campaign and cancelling an ended call change nothing.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "agent_name": Param(
            "Sales Assistant", type="string", description="The agent whose calls in flight are canceled."
        ),
    },
    doc_md=__doc__
    + """
### Parameters
- `agent_name`: the agent whose queued, ringing and in-progress calls are canceled (found by name
  when the task runs; exactly one agent must have it).

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).
""",
) as dag:
    # --8<-- [start:stop]
    campaigns = VotelListOperator(task_id="list_campaigns", votel_conn_id=VOTEL_CONN_ID, resource="campaigns")

    @task
    def running(campaigns: list[dict[str, Any]]) -> list[str]:
        return [c["id"] for c in campaigns if c.get("status") == "running"]

    PauseCampaignOperator.partial(task_id="pause_campaign", votel_conn_id=VOTEL_CONN_ID).expand(
        campaign_id=running(campaigns.output)
    )
    CancelCallOperator(
        task_id="cancel_calls_in_flight", votel_conn_id=VOTEL_CONN_ID, agent_name="{{ params.agent_name }}"
    )
    # --8<-- [end:stop]
