"""Tasks operators against the sandbox: exactly-once creation across retries, completion, extract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    FakeStateStore,
    FakeTaskInstance,
    arm_commit_then_500,
    dagrun_task_states,
    make_context,
    run_dag,
    write_dag,
)
from votel_airflow import endpoints
from votel_airflow.exceptions import VotelInputError, VotelServerError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.tasks import CompleteTaskOperator, CreateTaskOperator, TaskExtractOperator


def first_user_and_contact() -> tuple[str, str]:
    hook = VotelHook()
    return hook.get(endpoints.SETTINGS_USERS)[0]["id"], hook.get(endpoints.CONTACTS, {"limit": 1})[0]["id"]


def test_create_tasks_returns_their_ids_in_input_order(votel_sandbox, votel_api_key, votel_connection):
    user, contact = first_user_and_contact()
    specs: list[dict[str, Any]] = [
        {"title": "Call back", "contact_id": contact, "assignee_id": user, "due_at": "2026-11-05T09:00:00Z"},
        {"title": "Send quote", "custom_fields": {"amount": 100}},
    ]

    ids = CreateTaskOperator(task_id="tasks", tasks=specs).execute(make_context())

    records = votel_sandbox.admin.records(votel_api_key, "task")
    assert [r["id"] for r in records] == ids
    assert len(ids) == 2
    task = next(t for t in VotelHook().paginate(endpoints.TASKS) if t["id"] == ids[0])
    assert (task["title"], task["assignee_id"], task["due_at"]) == (
        "Call back",
        user,
        "2026-11-05T09:00:00+00:00",
    )


def test_retried_create_tasks_creates_only_the_missing_ones(votel_sandbox, votel_api_key, votel_connection):
    store = FakeStateStore()
    first = CreateTaskOperator(task_id="tasks", tasks=[{"title": "A"}, {"title": "A"}]).execute(
        make_context(state_store=store)
    )

    again = CreateTaskOperator(
        task_id="tasks", tasks=[{"title": "B"}, {"title": "A"}, {"title": "A"}]
    ).execute(make_context(state_store=store))

    assert again[1:] == first
    assert len(votel_sandbox.admin.records(votel_api_key, "task")) == 3  # A, A, then only B


@pytest.mark.parametrize("store", [None, FakeStateStore], ids=["no-state-store", "task-state-store"])
def test_create_tasks_retry_after_a_500_after_commit_creates_no_second_task(
    votel_sandbox, votel_api_key, votel_connection, monkeypatch, store
):
    # Two identical specs stay two tasks; the second's answer is lost after the server made it.
    state = store() if store else None
    op = CreateTaskOperator(
        task_id="tasks", tasks=[{"title": "Chase"}, {"title": "Chase"}, {"title": "Quote"}]
    )
    posted: list[str] = []
    arm = arm_commit_then_500(votel_sandbox, monkeypatch)
    original = VotelHook.request

    def second_post_loses_its_answer(self, method, path, **kwargs):
        if method == "POST" and path == endpoints.TASKS:
            posted.append(path)
            if len(posted) == 2:
                arm(endpoints.TASKS)
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(VotelHook, "request", second_post_loses_its_answer)
    with pytest.raises(VotelServerError):
        op.execute(make_context(state_store=state))
    made = [r["id"] for r in votel_sandbox.admin.records(votel_api_key, "task")]
    assert len(made) == 2

    ids = op.execute(make_context(ti=FakeTaskInstance(try_number=2), state_store=state))

    records = votel_sandbox.admin.records(votel_api_key, "task")
    assert [r["body"] for r in records] == ["Chase", "Chase", "Quote"]
    assert ids == [r["id"] for r in records]


def test_create_task_without_a_title_fails_before_any_task_is_created(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"tasks\[1\].title=None: must be a non-empty string"):
        CreateTaskOperator(task_id="tasks", tasks=[{"title": "ok"}, {"contact_id": "c"}]).execute(
            make_context()
        )

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_create_task_with_an_unknown_field_names_it(votel_sandbox, votel_connection):
    with pytest.raises(VotelInputError, match=r"tasks\[0\]=.*has unknown field\(s\) \['priority'\]"):
        CreateTaskOperator(task_id="tasks", tasks={"title": "x", "priority": 1}).execute(make_context())


def test_complete_tasks_marks_them_done_and_reports_unknown_ids(votel_connection):
    ids = CreateTaskOperator(task_id="tasks", tasks=[{"title": "A"}, {"title": "B"}]).execute(make_context())

    result = CompleteTaskOperator(task_id="done", task_ids=[*ids, "no-such-task"]).execute(make_context())

    assert result == {
        "completed": ids,
        "completed_count": 2,
        "not_found": ["no-such-task"],
        "not_found_count": 1,
        "truncated": False,
        "results_uri": None,
    }
    done = {t["id"] for t in VotelHook().paginate(endpoints.TASKS, params={"status": "done"})}
    assert set(ids) <= done


def test_complete_tasks_refuses_an_empty_id_before_any_request(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"task_ids=\[''\]: contains empty or non-string items"):
        CompleteTaskOperator(task_id="done", task_ids=["t-1", ""]).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_task_extract_writes_the_filtered_tasks_and_returns_a_manifest(votel_connection, tmp_path: Path):
    CreateTaskOperator(
        task_id="tasks",
        tasks=[
            {"title": "early", "due_at": "2026-01-01T00:00:00Z"},
            {"title": "late", "due_at": "2027-01-01T00:00:00Z"},
        ],
    ).execute(make_context())
    destination = tmp_path / "tasks.jsonl"

    manifest = TaskExtractOperator(
        task_id="extract",
        destination=str(destination),
        filters={"due_before": "2026-06-01T00:00:00Z", "status": "open"},
    ).execute(make_context())

    titles = [json.loads(line)["title"] for line in destination.read_text().splitlines()]
    assert titles == ["early"]
    assert manifest == {
        "uri": f"file://{destination}",
        "records": 1,
        "since": None,
        "until": None,
        "format": "jsonl",
    }


def test_task_extract_with_a_bad_status_writes_nothing(votel_sandbox, votel_connection, tmp_path: Path):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"filters\['status'\]='closed': is not one of"):
        TaskExtractOperator(
            task_id="extract", destination=str(tmp_path / "t.jsonl"), filters={"status": "closed"}
        ).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert list(tmp_path.iterdir()) == []


DAG_SOURCE = """
import json
from datetime import timedelta
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.tasks import CompleteTaskOperator, CreateTaskOperator, TaskExtractOperator

with DAG("tasks_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    create = CreateTaskOperator(task_id="create", tasks=[{"title": "{{ dag_run.conf['title'] }}"}])
    complete = CompleteTaskOperator(task_id="complete", task_ids=create.output)
    extract = TaskExtractOperator(
        task_id="extract", destination="{{ dag_run.conf['out'] }}/done.jsonl",
        filters={"status": "{{ 'done' }}"},
    )

    @task
    def keep(created, completed, manifest, dag_run=None):
        with open(dag_run.conf["out"] + "/result.json", "w") as f:
            json.dump({"created": created, "completed": completed, "manifest": manifest}, f)

    complete >> extract
    keep(create.output, complete.output, extract.output)
"""


def test_tasks_operators_render_templates_inside_dag_test(airflow_db, votel_connection, dags, tmp_path):
    write_dag(dags, DAG_SOURCE)

    dagrun = run_dag(dags, "tasks_dag", run_conf={"title": "Templated task", "out": str(tmp_path)})

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["completed"]["completed"] == result["created"]
    assert result["completed"]["not_found"] == []
    rows = [json.loads(line) for line in (tmp_path / "done.jsonl").read_text().splitlines()]
    assert [(r["id"], r["title"]) for r in rows] == [(result["created"][0], "Templated task")]
    assert result["manifest"]["records"] == 1
