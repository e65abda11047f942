"""Agents: start outbound AI calls, create and update agents, deploy versions, sync knowledge bases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow.sdk import ObjectStoragePath

from votel_airflow import endpoints
from votel_airflow.exceptions import VotelNotFoundError, VotelServerError
from votel_airflow.idempotency import TaskProgress, idempotency_key
from votel_airflow.links import VotelObjectLink, push_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.sensors.base import result_from_event
from votel_airflow.sensors.calls import (
    DEFAULT_FAIL_ON,
    CallCompletedCondition,
    call_summary,
    require_fail_on,
)
from votel_airflow.validation import E164, fail, require_id, require_text
from votel_airflow.waiting import defer_until, poll_until_done

NAME_MAX = 200
PROMPT_MAX = 100_000
DOCUMENT_TEXT_MAX = 100_000
DEFAULT_CALL_TIMEOUT = 3600.0
DEFAULT_CALL_POKE_INTERVAL = 10.0
AGENT_FIELDS = ("id", "name", "enabled", "voice_id", "deployed_version_id", "updated_at")
VERSION_FIELDS = ("id", "agent_id", "number", "created_at", "deployed")


def _pick(obj: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: obj.get(name) for name in names if name in obj}


def _require_phone(field: str, value: Any) -> str:
    if not isinstance(value, str) or not E164.match(value.strip()):
        raise fail(field, value, "is not an E.164 phone number", "Use e.g. '+14155552671'.")
    return value.strip()


def _require_json_object(field: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail(field, value, "must be a mapping of names to values", "Pass e.g. {'first_name': 'Ada'}.")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise fail(
            field, value, "is not JSON-serializable", "Use strings, numbers, lists and dicts."
        ) from None
    return dict(value)


class StartCallOperator(VotelBaseOperator):
    """Start an outbound AI voice call, exactly once per task instance; optionally wait for its end.

    The request carries an idempotency key built from the task instance, the agent and the number,
    so a retried task gets the first call back instead of ringing the person again.

    Without waiting it returns ``{id, status, ...}`` as the call started (status ``queued``). With
    ``wait_for_completion=True`` it polls until the call ends; with ``deferrable=True`` the wait is
    handed to the triggerer instead. Either way it returns the ended call ``{id, status, outcome,
    duration_seconds, summary, ...}`` and fails when its status is in ``fail_on``.

    :param agent_id: the agent that makes the call. Templated.
    :param to: the number to call, E.164. Templated.
    :param contact_id: the CRM contact being called, if any. Templated.
    :param variables: values for the agent's prompt variables (JSON-safe). Templated.
    :param wait_for_completion: wait until the call ends and return the ended call.
    :param deferrable: wait in the triggerer (implies waiting). Default False rather than
        ``[operators] default_deferrable``, so a global setting never turns a fire-and-forget call
        start into a wait.
    :param poke_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait for the end of the call (separate from ``execution_timeout``).
    :param fail_on: terminal statuses that fail the task (default ``["failed"]``).
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "to", "contact_id", "variables")
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#fff3e0"

    def __init__(
        self,
        *,
        agent_id: str,
        to: str,
        contact_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = False,
        poke_interval: float = DEFAULT_CALL_POKE_INTERVAL,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        fail_on: Sequence[str] = DEFAULT_FAIL_ON,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(to, str) and "{{" not in to:
            _require_phone("to", to)
        if not isinstance(poke_interval, (int, float)) or poke_interval <= 0:
            raise fail("poke_interval", poke_interval, "must be a positive number of seconds", "E.g. 10.")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise fail("timeout", timeout, "must be a positive number of seconds", "E.g. 3600.")
        self.agent_id = agent_id
        self.to = to
        self.contact_id = contact_id
        self.variables = variables
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)
        self.fail_on = require_fail_on(fail_on)

    def execute(self, context: Any) -> dict[str, Any]:
        agent_id = require_id("agent_id", self.agent_id)
        to = _require_phone("to", self.to)
        body: dict[str, Any] = {"to": to}
        if self.contact_id not in (None, "", "None"):
            body["contact_id"] = require_id("contact_id", self.contact_id)
        variables = _require_json_object("variables", self.variables)
        if variables:
            body["variables"] = variables
        call = self.hook.request(
            "POST",
            endpoints.path(endpoints.AGENT_CALLS, agent_id=agent_id),
            json=body,
            idempotency_key=idempotency_key(context, "call", agent_id, to),
        )
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
            raise VotelServerError(f"POST /agents/{agent_id}/calls answered without a call id: {call!r:.200}")
        call_id = call["id"]
        push_link(context, self.hook.settings.base_url, "call", call_id)
        self.log.info("Call %s to %s started (%s)", call_id, to, call.get("status"))
        if not (self.wait_for_completion or self.deferrable):
            return call_summary(call)
        condition = CallCompletedCondition(call_id, self.fail_on)
        if self.deferrable:
            defer_until(
                self,
                condition,
                poke_interval=self.poke_interval,
                timeout=self.timeout,
                method_name="execute_complete",
            )
        verdict = poll_until_done(self, condition, poke_interval=self.poke_interval, timeout=self.timeout)
        status = "failed" if verdict.failed else "success"
        result: dict[str, Any] = result_from_event(
            self.task_id, {"status": status, "message": verdict.message, "value": verdict.value}
        )
        return result

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Return the ended call from the trigger's event, or fail clearly."""
        result: dict[str, Any] = result_from_event(self.task_id, event)
        return result


class CreateAgentOperator(VotelBaseOperator):
    """Create an AI agent, once per task instance; return ``{id, name, enabled, ...}``.

    The created id is kept in the task state store (Airflow 3.3+), so a retry returns the same
    agent instead of creating a second one.

    :param name: the agent's name. Templated.
    :param prompt: its system prompt. Templated.
    :param voice_id: a voice from ``GET /tts-voices``. Templated.
    :param enabled: whether it may take and make calls.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("name", "prompt", "voice_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        name: str,
        prompt: str,
        voice_id: str | None = None,
        enabled: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.prompt = prompt
        self.voice_id = voice_id
        self.enabled = enabled

    def execute(self, context: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": require_text("name", self.name, max_length=NAME_MAX),
            "prompt": require_text("prompt", self.prompt, max_length=PROMPT_MAX),
            "enabled": bool(self.enabled),
        }
        if self.voice_id not in (None, "", "None"):
            body["voice_id"] = require_id("voice_id", self.voice_id)
        progress = TaskProgress(context, "votel_created_agent")
        if "agent" in progress:
            agent = self.hook.get(endpoints.path(endpoints.AGENT, agent_id=progress.done()["agent"]))
            self.log.info("Agent %s was created by a previous try; not creating another", agent["id"])
        else:
            agent = self.hook.request("POST", endpoints.AGENTS, json=body)
            progress.record("agent", agent["id"])
            progress.flush()
        push_link(context, self.hook.settings.base_url, "agent", agent["id"])
        return _pick(agent, AGENT_FIELDS)


class UpdateAgentOperator(VotelBaseOperator):
    """Change an agent's name, prompt, voice or enabled flag; fields left None stay as they are.

    :param agent_id: the agent to change. Templated.
    :param name: new name. Templated.
    :param prompt: new system prompt. Templated.
    :param voice_id: new voice. Templated.
    :param enabled: enable or disable the agent.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "name", "prompt", "voice_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        agent_id: str,
        name: str | None = None,
        prompt: str | None = None,
        voice_id: str | None = None,
        enabled: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if name is None and prompt is None and voice_id is None and enabled is None:
            raise fail(
                "name", None, "nothing to change", "Give at least one of name, prompt, voice_id, enabled."
            )
        self.agent_id = agent_id
        self.name = name
        self.prompt = prompt
        self.voice_id = voice_id
        self.enabled = enabled

    def execute(self, context: Any) -> dict[str, Any]:
        agent_id = require_id("agent_id", self.agent_id)
        body: dict[str, Any] = {}
        if self.name is not None:
            body["name"] = require_text("name", self.name, max_length=NAME_MAX)
        if self.prompt is not None:
            body["prompt"] = require_text("prompt", self.prompt, max_length=PROMPT_MAX)
        if self.voice_id is not None:
            body["voice_id"] = require_id("voice_id", self.voice_id)
        if self.enabled is not None:
            body["enabled"] = bool(self.enabled)
        # Setting the same fields twice leaves the same agent, so the key only lets the hook retry.
        agent = self.hook.request(
            "PATCH",
            endpoints.path(endpoints.AGENT, agent_id=agent_id),
            json=body,
            idempotency_key=idempotency_key(context, "agent-update", agent_id),
        )
        push_link(context, self.hook.settings.base_url, "agent", agent_id)
        return _pick(agent, AGENT_FIELDS)


class DeployAgentVersionOperator(VotelBaseOperator):
    """Make a version of an agent live: a given ``version_id``, or a new snapshot of its config.

    Without ``version_id`` the agent's current configuration is snapshotted as a new version first;
    that version's id is kept in the task state store so a retry deploys it rather than taking a
    second snapshot. Returns the deployed version ``{id, agent_id, number, created_at, deployed}``.

    :param agent_id: the agent. Templated.
    :param version_id: the version to deploy; None snapshots the current config. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "version_id")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(self, *, agent_id: str, version_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.version_id = version_id

    def execute(self, context: Any) -> dict[str, Any]:
        agent_id = require_id("agent_id", self.agent_id)
        if self.version_id not in (None, "", "None"):
            version_id = require_id("version_id", self.version_id)
        else:
            version_id = self._snapshot(context, agent_id)
        # Deploying the same version twice changes nothing, so the key only lets the hook retry.
        version = self.hook.request(
            "POST",
            endpoints.path(endpoints.AGENT_VERSION_DEPLOY, agent_id=agent_id, version_id=version_id),
            idempotency_key=idempotency_key(context, "deploy", agent_id, version_id),
        )
        push_link(context, self.hook.settings.base_url, "agent", agent_id)
        self.log.info("Agent %s now runs version %s (%s)", agent_id, version_id, version.get("number"))
        return _pick(version, VERSION_FIELDS)

    def _snapshot(self, context: Any, agent_id: str) -> str:
        progress = TaskProgress(context, "votel_agent_snapshot")
        if agent_id in progress:
            version_id = str(progress.done()[agent_id])
            self.log.info("Reusing version %s snapshotted by a previous try", version_id)
            return version_id
        version = self.hook.request("POST", endpoints.path(endpoints.AGENT_VERSIONS, agent_id=agent_id))
        version_id = str(version["id"])
        progress.record(agent_id, version_id)
        progress.flush()
        return version_id


def content_digest(document: Mapping[str, Any]) -> str:
    """A hash of a document's content (its text or its URL), to tell a changed document apart."""
    url = document.get("url")
    kind, value = ("url", url) if url is not None else ("text", document.get("text"))
    return hashlib.sha256(f"{kind}\x1f{value}".encode()).hexdigest()


def require_documents(field: str, value: Any) -> list[dict[str, str]]:
    """``[{title, text}|{title, url}]`` with unique titles, as clean dicts."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise fail(
            field, value, "must be a list of documents", "Pass e.g. [{'title': 'FAQ', 'text': '...'}]."
        )
    documents: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping) or set(item) - {"title", "text", "url"}:
            raise fail(where, item, "must be a dict with 'title' and one of 'text' or 'url'", "Fix the item.")
        title = require_text(f"{where}.title", item.get("title"), max_length=NAME_MAX).strip()
        if title in seen:
            raise fail(where, title, "repeats a title", "Titles identify documents: make them unique.")
        seen.add(title)
        if (item.get("text") is None) == (item.get("url") is None):
            raise fail(where, item, "needs exactly one of 'text' or 'url'", "Give the content or its URL.")
        if item.get("url") is not None:
            url = item["url"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise fail(
                    f"{where}.url", url, "is not an http(s) URL", "Use e.g. 'https://example.com/faq'."
                )
            documents.append({"title": title, "url": url})
        else:
            text = require_text(f"{where}.text", item["text"], max_length=DOCUMENT_TEXT_MAX)
            documents.append({"title": title, "text": text})
    return documents


def _folder_path(field: str, folder: Any) -> ObjectStoragePath:
    if isinstance(folder, ObjectStoragePath):
        return folder
    text = str(folder).strip() if folder is not None else ""
    if not text:
        raise fail(field, folder, "must name a folder", "Use e.g. '/data/kb/' or 's3://bucket/kb/'.")
    if "://" not in text:
        if not text.startswith("/"):
            raise fail(field, folder, "is a relative path", "Give an absolute path or a URL.")
        text = f"file://{text}"
    return ObjectStoragePath(text.rstrip("/"))


def documents_from_folder(folder: ObjectStoragePath) -> list[dict[str, str]]:
    """One ``{title, text}`` per file under ``folder`` (recursively); the title is its relative path.

    Hidden files (a name starting with ``.``) are skipped; files must be UTF-8 text.
    """
    if not folder.is_dir():
        raise fail("folder", str(folder), "is not an existing folder", "Create it or fix the path.")
    documents = []
    root = str(folder).rstrip("/") + "/"
    for path in sorted(_files_under(folder), key=str):
        title = str(path)[len(root) :] if str(path).startswith(root) else path.name
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise fail(
                "folder", str(path), "holds a file that is not UTF-8 text", "Convert or remove it."
            ) from None
        documents.append({"title": title, "text": text})
    return documents


def _files_under(folder: ObjectStoragePath) -> Iterator[ObjectStoragePath]:
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        if path.is_dir():
            yield from _files_under(path)
        else:
            yield path


class SyncKnowledgeBaseOperator(VotelBaseOperator):
    """Make an agent's knowledge base hold exactly a given set of documents.

    Documents are matched by title and content hash: those already present are left alone, new or
    changed ones are added, and those no longer wanted are removed (after the additions, so the
    agent never goes without a document that is being replaced). Running it again, or retrying it
    after a failure, computes the difference afresh, so nothing is added twice. Returns
    ``{"added": n, "removed": n, "unchanged": n}``.

    :param agent_id: the agent whose knowledge base to sync. Templated.
    :param documents: the wanted documents, ``[{"title", "text"}]`` or ``[{"title", "url"}]``.
        Templated. Give this or ``folder``.
    :param folder: a folder (local absolute path or any URL ``ObjectStoragePath`` accepts) whose
        files are the wanted documents, titled by their path relative to it. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "documents", "folder")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        agent_id: str,
        documents: Sequence[Mapping[str, str]] | None = None,
        folder: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (documents is None) == (folder is None):
            raise fail("documents", documents, "give exactly one of documents or folder", "Pass one of them.")
        if isinstance(documents, list):
            require_documents("documents", documents)
        self.agent_id = agent_id
        self.documents = documents
        self.folder = folder

    def execute(self, context: Any) -> dict[str, int]:
        agent_id = require_id("agent_id", self.agent_id)
        if self.folder is not None:
            wanted = require_documents("folder", documents_from_folder(_folder_path("folder", self.folder)))
        else:
            wanted = require_documents("documents", self.documents)
        path = endpoints.path(endpoints.AGENT_KB_DOCUMENTS, agent_id=agent_id)
        existing = list(self.hook.paginate(path))
        wanted_by_key = {(doc["title"], content_digest(doc)): doc for doc in wanted}
        kept: set[tuple[str, str]] = set()
        gone: list[dict[str, Any]] = []
        for doc in existing:
            key = (str(doc.get("title")), content_digest(doc))
            if key in wanted_by_key and key not in kept:
                kept.add(key)
            else:
                gone.append(doc)  # a duplicate of a kept document is removed too
        new = [doc for key, doc in wanted_by_key.items() if key not in kept]
        for doc in new:
            self.hook.request("POST", path, json=doc)
            self.log.info("Added %r", doc["title"])
        for doc in gone:
            self._remove(context, agent_id, doc)
        push_link(context, self.hook.settings.base_url, "agent", agent_id)
        return {"added": len(new), "removed": len(gone), "unchanged": len(kept)}

    def _remove(self, context: Any, agent_id: str, doc: Mapping[str, Any]) -> None:
        doc_id = require_id("document id from the API", doc.get("id"))
        try:
            # A DELETE repeated removes nothing more; the key only lets the hook retry it.
            self.hook.request(
                "DELETE",
                endpoints.path(endpoints.AGENT_KB_DOCUMENT, agent_id=agent_id, doc_id=doc_id),
                idempotency_key=idempotency_key(context, "kb-remove", agent_id, doc_id),
            )
        except VotelNotFoundError:
            self.log.info("Document %s was already gone", doc_id)
            return
        self.log.info("Removed %r", doc.get("title"))
