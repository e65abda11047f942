"""Keep an agent's knowledge base equal to a set of documents: add new, remove gone, keep the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.compat import ObjectStoragePath
from votel_airflow.delivery.idempotency import idempotency_key
from votel_airflow.exceptions import VotelNotFoundError
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.names import require_one, resolve
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.validation import fail, require_id, require_text

NAME_MAX = 200
DOCUMENT_TEXT_MAX = 100_000


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

    :param agent_id: the agent whose knowledge base to sync. Templated. Give this or ``agent_name``.
    :param agent_name: the agent's name instead of its id, resolved when the task runs. Templated.
    :param documents: the wanted documents, ``[{"title", "text"}]`` or ``[{"title", "url"}]``.
        Templated. Give this or ``folder``.
    :param folder: a folder (local absolute path or any URL ``ObjectStoragePath`` accepts) whose
        files are the wanted documents, titled by their path relative to it. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("agent_id", "agent_name", "documents", "folder")
    operator_extra_links = (VotelObjectLink(),)

    def __init__(
        self,
        *,
        agent_id: str | None = None,
        agent_name: str | None = None,
        documents: Sequence[Mapping[str, str]] | None = None,
        folder: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_one("agent", agent_id, agent_name)
        if (documents is None) == (folder is None):
            raise fail("documents", documents, "give exactly one of documents or folder", "Pass one of them.")
        if isinstance(documents, list):
            require_documents("documents", documents)
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.documents = documents
        self.folder = folder

    def execute(self, context: Any) -> dict[str, int]:
        if self.folder is not None:
            wanted = require_documents("folder", documents_from_folder(_folder_path("folder", self.folder)))
        else:
            wanted = require_documents("documents", self.documents)
        agent_id = resolve(self.hook, "agent", self.agent_id, self.agent_name)
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
        record_link(context, self.hook.settings.base_url, "agent", agent_id)
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
