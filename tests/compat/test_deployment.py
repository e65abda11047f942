"""A real Airflow deployment runs a provider DAG: four processes, LocalExecutor, a REST-triggered run.

``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` run as separate
processes against one metadata DB, the way a deployment does (tests/compat/deployment.py); the run
of ``votel_call_followup`` is triggered through the public REST API and makes calls, waits for each
in the triggerer (deferrable sensor), then books, e-mails and texts by outcome. What the sandbox
recorded and what the task logs show prove that the provider's operators, its trigger and its hook
all ran there.
"""

from __future__ import annotations

import json

import pytest

from tests.compat.deployment import EXAMPLES, Deployment, DeploymentTenant

pytestmark = pytest.mark.slow

DAG_ID = "votel_call_followup"


def test_a_rest_triggered_run_sends_and_waits_in_the_triggerer(
    shared_deployment: Deployment, deployment_tenant: DeploymentTenant
) -> None:
    deployment, tenant = shared_deployment, deployment_tenant
    deployment.add_dag(DAG_ID, (EXAMPLES / f"{DAG_ID}.py").read_text())

    run_id, state = deployment.run_dag(DAG_ID, conf={"votel_conn_id": tenant.conn_id})

    states = deployment.task_states(DAG_ID, run_id)
    shown = json.dumps({f"{k[0]}[{k[1]}]": v for k, v in states.items()})
    assert state == "success", shown + deployment.tails()
    # Three people called once each; the unanswered one (number ending in 0) texted once.
    calls = tenant.sandbox.admin.records(tenant.api_key, "call")
    assert sorted(c["recipient"] for c in calls) == ["+12025550201", "+12025550210", "+12025550224"], calls
    sms = tenant.sandbox.admin.records(tenant.api_key, "sms")
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
