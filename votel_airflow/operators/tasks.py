"""Tasks: create them (one or in bulk, exactly once), complete them, and extract them to a file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.delivery.xcom_results import capped_lists
from votel_airflow.earlier_creations import instant_of, run_started_after
from votel_airflow.exceptions import VotelError, VotelNotFoundError
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator
from votel_airflow.validation import (
    as_str_list,
    fail,
    is_unset,
    parse_instant,
    require_id,
    require_text,
)

TASK_FIELDS = frozenset({"title", "contact_id", "assignee_id", "due_at", "custom_fields"})
TASK_STATUSES = frozenset({"open", "in_progress", "done"})
PROGRESS_NAME = "tasks_created"


def task_spec(index: int, spec: Any) -> dict[str, Any]:
    """One task's body, checked: a title, known fields, ids, ``due_at`` as ISO 8601 UTC.

    :param index: the spec's position, named in errors as ``tasks[index]``.
    :param spec: the task as given.
    """
    where = f"tasks[{index}]"
    if not isinstance(spec, Mapping):
        raise fail(where, spec, "must be a dict", "Give e.g. {'title': 'Call back', 'contact_id': '...'}.")
    unknown = sorted(set(spec) - TASK_FIELDS)
    if unknown:
        raise fail(where, dict(spec), f"has unknown field(s) {unknown}", f"Use {sorted(TASK_FIELDS)}.")
    body: dict[str, Any] = {"title": require_text(f"{where}.title", spec.get("title"), max_length=200)}
    for name in ("contact_id", "assignee_id"):
        if spec.get(name) is not None:
            body[name] = require_id(f"{where}.{name}", spec[name])
    if spec.get("due_at") is not None:
        body["due_at"] = parse_instant(f"{where}.due_at", spec["due_at"]).isoformat()
    if spec.get("custom_fields") is not None:
        if not isinstance(spec["custom_fields"], Mapping):
            raise fail(
                f"{where}.custom_fields", spec["custom_fields"], "must be a dict", "Pass e.g. {'k': 'v'}."
            )
        body["custom_fields"] = dict(spec["custom_fields"])
    return body


def spec_keys(bodies: Iterable[Mapping[str, Any]]) -> list[str]:
    """A stable key per task: a hash of its content, plus its occurrence among identical ones.

    Keys do not depend on list positions, so a retry whose upstream list came back in another
    order still recognises the tasks it created; two identical specs stay two tasks.

    :param bodies: the checked task bodies, in order.
    """
    seen: dict[str, int] = {}
    keys = []
    for body in bodies:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:24]
        seen[digest] = seen.get(digest, 0) + 1
        keys.append(f"{digest}#{seen[digest]}")
    return keys


def _content(task: Mapping[str, Any]) -> str:
    """What a task was asked to be, comparable between a spec's body and the API's task."""
    due = task.get("due_at")
    return json.dumps(
        [
            task.get("title"),
            task.get("contact_id"),
            task.get("assignee_id"),
            parse_instant("due_at", due).isoformat() if due else None,
            task.get("custom_fields") or {},
        ],
        sort_keys=True,
        default=str,
    )


def as_specs(value: Any) -> list[Any]:
    """One task spec (a dict) or a list of them, as a list."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise fail("tasks", value, "must be a dict or a list of dicts", "Pass e.g. {'title': 'Call back'}.")
    return list(value)


class CreateTaskOperator(VotelBaseOperator):
    """Create one task or many, each exactly once across retries; return their ids in input order.

    Every created task's id is recorded in the task state store as soon as it exists, so a retried
    Airflow task creates only the tasks still missing. The API takes no ``Idempotency-Key`` on
    ``POST /tasks``, so a try also looks for tasks made since the run began whose ids were not
    recorded (an answer lost after the server made the task, or any retry on Airflow 3.0 to 3.2)
    and counts them as made: the n-th task of identical content is the n-th such spec. All specs
    are checked before the first one is created.

    :param tasks: one task spec or a list (an XComArg works), each ``{"title", "contact_id"?,
        "assignee_id"?, "due_at"?, "custom_fields"?}``. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("tasks",)
    operator_extra_links = (VotelObjectLink(),)

    def __init__(self, *, tasks: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks = tasks

    def execute(self, context: Any) -> list[str]:
        bodies = [task_spec(index, spec) for index, spec in enumerate(as_specs(self.tasks))]
        keys = spec_keys(bodies)
        progress = TaskProgress(context, PROGRESS_NAME)
        done = progress.done()
        if any(key not in done for key in keys):
            for key, task_id in self._created_earlier(context, bodies, keys, done).items():
                progress.record(key, task_id)
            done = progress.done()
        ids: list[str] = []
        try:
            for index, (body, key) in enumerate(zip(bodies, keys, strict=True)):
                if key in done:
                    ids.append(str(done[key]))
                    continue
                try:
                    # No Idempotency-Key: the API promises none on POST /tasks, and with one the
                    # hook would retry a POST whose 5xx came after the task was made. A lost
                    # answer is found by the next try instead (_created_earlier).
                    task = self.hook.request("POST", endpoints.TASKS, json=body)
                except VotelError:
                    self.log.error(
                        "Creating tasks[%d] (%r) failed; %d created before it", index, body["title"], len(ids)
                    )
                    raise
                ids.append(str(task["id"]))
                progress.record(key, ids[-1])
                # Made durable before the next task is created: it is what tells a retry which of
                # several identical tasks exist already.
                progress.flush()
        finally:
            progress.flush()
        if progress.resumed:
            self.log.info("%d task(s) were created by a previous try and not created again", progress.resumed)
        if len(ids) == 1:
            record_link(context, self.hook.settings.base_url, "task", ids[0])
        return ids

    def _created_earlier(
        self, context: Any, bodies: list[dict[str, Any]], keys: list[str], done: Mapping[str, Any]
    ) -> dict[str, str]:
        """``{key: task id}`` of the tasks an earlier try made whose ids it did not record.

        Tasks made since the run began are matched on their content; the n-th such task of a
        content is the n-th spec of that content, as the specs are created in input order. See
        :mod:`votel_airflow.earlier_creations`.
        """
        since = run_started_after(context)
        if since is None:
            return {}
        made: dict[str, list[str]] = {}
        stamped = [(instant_of(row), row) for row in self.hook.paginate(endpoints.TASKS)]
        for _, row in sorted(((at, row) for at, row in stamped if at and at >= since), key=lambda x: x[0]):
            made.setdefault(_content(row), []).append(str(row["id"]))
        found: dict[str, str] = {}
        for body, key in zip(bodies, keys, strict=True):
            ids = made.get(_content(body))
            task_id = ids.pop(0) if ids else None
            if task_id is not None and key not in done:
                found[key] = task_id
        if found:
            self.log.info(
                "%d task(s) were created by a previous try of this task; not creating them again", len(found)
            )
        return found


class CompleteTaskOperator(VotelBaseOperator):
    """Mark tasks done; return ``{"completed": [...], "not_found": [...]}``.

    Each list is cut to its first 1,000 ids with its count beside it (``completed_count``,
    ``not_found_count``), with ``truncated`` and ``results_uri`` (see
    :mod:`votel_airflow.delivery.xcom_results`).

    :param task_ids: one task id or a list; an XComArg works (e.g. ``CreateTaskOperator``'s output).
        Templated.
    :param fail_on_not_found: fail (after completing the others) when some tasks do not exist.
    :param results_destination: file (absolute path or URL) for both lists in full, as one JSON
        object. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("task_ids", "results_destination")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        task_ids: Any,
        fail_on_not_found: bool = False,
        results_destination: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_ids = task_ids
        self.fail_on_not_found = fail_on_not_found
        self.results_destination = results_destination

    def execute(self, context: Any) -> dict[str, Any]:
        from votel_airflow.destinations import optional_storage_path  # fsspec: not at DAG parse time

        task_ids = list(dict.fromkeys(as_str_list("task_ids", self.task_ids)))
        destination = optional_storage_path("results_destination", self.results_destination)
        completed: list[str] = []
        not_found: list[str] = []
        for task_id in task_ids:
            path = endpoints.path(endpoints.TASK, task_id=task_id)
            try:
                # Setting a status twice is harmless: the key only lets the hook retry the PATCH.
                key = idempotency_key(context, "complete", task_id)
                self.hook.request("PATCH", path, json={"status": "done"}, idempotency_key=key)
            except VotelNotFoundError:
                not_found.append(task_id)
            else:
                completed.append(task_id)
        if len(completed) == 1:
            record_link(context, self.hook.settings.base_url, "task", completed[0])
        if not_found and self.fail_on_not_found:
            raise VotelNotFoundError(
                f"{len(not_found)} task(s) do not exist: {not_found[:20]}; "
                f"the other {len(completed)} were completed",
                status_code=404,
            )
        return capped_lists({"completed": completed, "not_found": not_found}, destination)


class TaskExtractOperator(VotelExtractOperator):
    """Stream the tasks matching the filters to a file and return a manifest.

    ``GET /tasks`` has no time window, so this extract is a snapshot of the tasks at run time, in
    creation order (not an incremental slice: there are no ``since``/``until`` arguments, and the
    manifest's ``since``/``until`` are None). Narrow it with ``due_before``, e.g.
    ``{"due_before": "{{ data_interval_end }}"}``.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param filters: ``assignee_id``, ``status`` (open, in_progress, done) and/or ``due_before``
        (ISO 8601: tasks due strictly before it). Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet`` (needs the ``parquet`` extra).
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.TASKS
    windowed = False
    filter_names = frozenset({"assignee_id", "status", "due_before"})
    filter_choices = {"status": frozenset(TASK_STATUSES)}
    template_fields: Sequence[str] = ("destination", "filters")

    def __init__(
        self,
        *,
        destination: Any,
        filters: Mapping[str, Any] | None = None,
        format: str = "jsonl",
        page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination, filters=filters, format=format, page_size=page_size, **kwargs
        )

    def filter_params(self) -> dict[str, Any]:
        """The filters, checked and normalised; unset values (None, "", "None") dropped."""
        params = {k: v for k, v in super().filter_params().items() if not is_unset(v)}
        if "due_before" in params:
            params["due_before"] = parse_instant("filters['due_before']", params["due_before"]).isoformat()
        if "assignee_id" in params:
            params["assignee_id"] = require_id("filters['assignee_id']", params["assignee_id"])
        return params
