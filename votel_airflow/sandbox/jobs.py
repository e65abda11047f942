"""Contact import and export jobs: 202 at once, the work done when the job completes.

An import's rows are applied the first time anything touches the account's contacts after
the job's completion time (see :func:`settle_imports`), so contacts never change behind a
reader's back in the middle of a request. An export snapshots the matching contacts when it
is created and serves them as JSON lines once completed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from votel_airflow.sandbox import clock, contacts_db, lifecycle
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.models import E164, EMAIL
from votel_airflow.sandbox.store import Tx

Doc = dict[str, Any]
PENDING = "pending"
DONE = "done"
CANCELED = "canceled"
_PHONE = re.compile(E164)
_EMAIL = re.compile(EMAIL)
_FIELDS = ("first_name", "last_name", "phone", "email", "tags", "custom_fields")


def create_import(tx: Tx, account_id: str, rows: list[Any], match_on: str) -> Doc:
    t0 = clock.now()
    doc: Doc = {
        "id": new_id(),
        "status": "pending",
        "match_on": match_on,
        "total_rows": len(rows),
        "created": 0,
        "updated": 0,
        "failed_rows": [],
        "created_at": clock.iso(t0),
        "completed_at": None,
        "_t0": t0,
        "_rows": rows,
    }
    tx.put_object(account_id, "import", doc["id"], doc, PENDING)
    tx.store.pending_imports.add(account_id)
    return doc


def import_view(doc: Doc, seconds: float, now: float) -> Doc:
    view = {key: value for key, value in doc.items() if not key.startswith("_")}
    view["status"] = CANCELED if doc["status"] == CANCELED else lifecycle.job_status(doc, seconds, now)
    return view


def cancel_import(tx: Tx, account_id: str, doc: Doc, seconds: float, now: float) -> Doc | None:
    """Stop a pending or processing import (its rows are applied only at completion, so none
    are); None when it had already finished."""
    if import_view(doc, seconds, now)["status"] not in ("pending", "processing"):
        return None
    doc.update(status=CANCELED, completed_at=clock.iso(now), _rows=[])
    tx.put_object(account_id, "import", doc["id"], doc, DONE)
    return import_view(doc, seconds, now)


def settle_imports(tx: Tx, account_id: str, seconds: float, now: float) -> None:
    """Apply every import of the account whose completion time has passed."""
    if account_id not in tx.store.pending_imports:
        return
    waiting = False
    for text in tx.object_docs(account_id, "import", PENDING):
        job = json.loads(text)
        if lifecycle.job_status(job, seconds, now) != lifecycle.COMPLETED:
            waiting = True
            continue
        _apply(tx, account_id, job)
        job["completed_at"] = clock.iso(job["_t0"] + 2 * seconds)
        job["_rows"] = []
        tx.put_object(account_id, "import", job["id"], job, DONE)
    if not waiting:
        tx.store.pending_imports.discard(account_id)


def _row_problem(row: Any, match_on: str) -> str | None:
    if not isinstance(row, dict):
        return "row must be an object"
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    if not row.get(match_on):
        return f"missing {match_on} (the match_on field)"
    first = row.get("first_name")
    if not isinstance(first, str) or not first.strip():
        return "first_name is required"
    phone = row.get("phone")
    if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
        return f"invalid phone number {phone!r}: use E.164, e.g. +14155552671"
    email = row.get("email")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        return f"invalid email {email!r}"
    tags = row.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return "tags must be a list of strings"
    if row.get("custom_fields") is not None and not isinstance(row["custom_fields"], dict):
        return "custom_fields must be an object"
    return None


def _apply(tx: Tx, account_id: str, job: Doc) -> None:
    match_on = job["match_on"]
    created = updated = 0
    failed: list[Doc] = []
    for index, row in enumerate(job["_rows"]):
        problem = _row_problem(row, match_on)
        if problem is not None:
            failed.append({"row": index, "detail": problem})
            continue
        stamp = clock.iso(clock.now())
        existing = contacts_db.find(tx, account_id, match_on, row[match_on])
        fields = {key: row[key] for key in _FIELDS if row.get(key) is not None}
        try:
            if existing is None:
                doc = {
                    "id": new_id(), "first_name": "", "last_name": None, "phone": None,
                    "email": None, "tags": [], "custom_fields": {}, **contacts_db.consent_defaults(),
                    "pipeline_id": None,
                    "stage_id": None, "created_at": stamp, "updated_at": stamp, **fields,
                }  # fmt: skip
                contacts_db.insert(tx, account_id, doc)
                created += 1
            else:
                existing.update(fields, updated_at=stamp)
                contacts_db.update(tx, account_id, existing)
                updated += 1
        except contacts_db.Duplicate as dup:
            failed.append({"row": index, "detail": f"{dup.field} already belongs to another contact"})
    job.update(created=created, updated=updated, failed_rows=failed)


def create_export(tx: Tx, account_id: str, lines: list[str]) -> Doc:
    t0 = clock.now()
    doc: Doc = {
        "id": new_id(),
        "status": "pending",
        "row_count": len(lines),
        "download_url": None,
        "created_at": clock.iso(t0),
        "completed_at": None,
        "_t0": t0,
    }
    tx.put_object(account_id, "export", doc["id"], doc)
    data = {"id": doc["id"], "jsonl": "".join(line + "\n" for line in lines)}
    tx.put_object(account_id, "export_data", doc["id"], data)
    return doc


def export_view(doc: Doc, seconds: float, now: float, download_url: str) -> Doc:
    view = {key: value for key, value in doc.items() if not key.startswith("_")}
    status = lifecycle.job_status(doc, seconds, now)
    view["status"] = status
    if status == lifecycle.COMPLETED:
        view["download_url"] = download_url
        view["completed_at"] = clock.iso(doc["_t0"] + 2 * seconds)
    else:
        view["row_count"] = None
    return view
