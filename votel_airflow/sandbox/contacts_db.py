"""Contacts in SQLite: unique phone and e-mail per account, search, tags, timeline."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from votel_airflow.sandbox.store import Tx, dumps

Doc = dict[str, Any]


def consent_defaults() -> Doc:
    """Consent of a contact nobody said anything about (contract 2026-12-b): reachable, zone unknown.

    A fresh value each time: contacts must not share one ``dnd_channels`` list.
    """
    return {"dnd": False, "dnd_channels": [], "timezone": None}


#: A contact that opted out of something: everywhere, or on at least one channel.
_OPTED_OUT = "(json_extract(doc, '$.dnd') = 1 OR json_array_length(doc, '$.dnd_channels') > 0)"


class Duplicate(Exception):
    """Another contact of the account has this phone or e-mail; ``field`` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _search_text(doc: Doc) -> str:
    parts = (doc.get("first_name"), doc.get("last_name"), doc.get("phone"), doc.get("email"))
    return " ".join(str(part) for part in parts if part).lower()


def _check_unique(tx: Tx, account_id: str, doc: Doc) -> None:
    for field in ("phone", "email"):
        value = doc.get(field)
        if value is None:
            continue
        row = tx.conn.execute(
            f"SELECT id FROM contacts WHERE account_id = ? AND {field} = ?", (account_id, value)
        ).fetchone()
        if row is not None and row[0] != doc["id"]:
            raise Duplicate(field)


def insert(tx: Tx, account_id: str, doc: Doc, *, check: bool = True) -> None:
    """Add a contact; raises :class:`Duplicate` when its phone or e-mail is taken.

    :param check: look for duplicates first; seeding, which knows there are none, skips it.
    """
    if check:
        _check_unique(tx, account_id, doc)
    tx.conn.execute(
        "INSERT INTO contacts (account_id, id, phone, email, tags, search, updated_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account_id,
            doc["id"],
            doc.get("phone"),
            doc.get("email"),
            dumps(doc.get("tags", [])),
            _search_text(doc),
            doc["updated_at"],
            dumps(doc),
        ),
    )


def update(tx: Tx, account_id: str, doc: Doc) -> None:
    """Replace a contact's document; raises :class:`Duplicate` like :func:`insert`."""
    _check_unique(tx, account_id, doc)
    tx.conn.execute(
        "UPDATE contacts SET phone = ?, email = ?, tags = ?, search = ?, updated_at = ?, doc = ?"
        " WHERE account_id = ? AND id = ?",
        (
            doc.get("phone"),
            doc.get("email"),
            dumps(doc.get("tags", [])),
            _search_text(doc),
            doc["updated_at"],
            dumps(doc),
            account_id,
            doc["id"],
        ),
    )


def get(tx: Tx, account_id: str, contact_id: str) -> Doc | None:
    row = tx.conn.execute(
        "SELECT doc FROM contacts WHERE account_id = ? AND id = ?", (account_id, contact_id)
    ).fetchone()
    return json.loads(row[0]) if row else None


def find(tx: Tx, account_id: str, field: str, value: str) -> Doc | None:
    """The contact whose ``field`` (phone or email) is ``value``."""
    if field not in ("phone", "email"):
        raise ValueError(field)
    row = tx.conn.execute(
        f"SELECT doc FROM contacts WHERE account_id = ? AND {field} = ?", (account_id, value)
    ).fetchone()
    return json.loads(row[0]) if row else None


def delete(tx: Tx, account_id: str, contact_id: str) -> bool:
    cur = tx.conn.execute("DELETE FROM contacts WHERE account_id = ? AND id = ?", (account_id, contact_id))
    return cur.rowcount > 0


def page(
    tx: Tx,
    account_id: str,
    *,
    search: str | None,
    tag: str | None,
    updated_since: str | None,
    dnd: bool | None = None,
    limit: int,
    offset: int,
) -> list[str]:
    """Stored JSON of the matching contacts, oldest first.

    :param dnd: True for the contacts that opted out of anything, False for the others.
    """
    sql = ["SELECT doc FROM contacts WHERE account_id = ?"]
    params: list[Any] = [account_id]
    if search:
        sql.append("AND instr(search, ?) > 0")
        params.append(search.lower())
    if tag:
        sql.append("AND EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE value = ?)")
        params.append(tag)
    if updated_since:
        sql.append("AND updated_at >= ?")
        params.append(updated_since)
    if dnd is not None:
        sql.append(f"AND {_OPTED_OUT}" if dnd else f"AND NOT {_OPTED_OUT}")
    sql.append("ORDER BY seq LIMIT ? OFFSET ?")
    params += [limit, offset]
    return [row[0] for row in tx.conn.execute(" ".join(sql), params)]


def all_rows(tx: Tx, account_id: str) -> list[sqlite3.Row]:
    return list(tx.conn.execute("SELECT doc FROM contacts WHERE account_id = ? ORDER BY seq", (account_id,)))
