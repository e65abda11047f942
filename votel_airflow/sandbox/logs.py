"""Paged reads of time-ordered event rows, with keyset seeks behind offset paging.

Clients page with ``limit``/``offset``. A plain ``OFFSET`` costs O(offset) per page, so a
million-row extraction would be quadratic. After each page the key ``(created_at, id)`` of its
last row is cached under the query's signature and the offset that follows it; the next page
then seeks straight past that key through the ``(account_id, kind, created_at, id)`` index.
A cached key is used only while nothing was written to that kind for the account and nothing
was waiting to become visible, so the answer is always the one ``OFFSET`` would give.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from votel_airflow.sandbox.store import Store, Tx

#: What a filter may name, and the SQL it compares: indexed columns, or a field of the row
#: (a messaging log's ``channel``, read from the document: filtered within the time window).
FILTER_COLUMNS = {
    "k1": "k1",
    "k2": "k2",
    "contact_id": "contact_id",
    "channel": "json_extract(doc, '$.channel')",
}


@dataclass(frozen=True)
class LogQuery:
    """One page of one kind of event for one account.

    :param filters: ``(column, value)`` pairs; columns are the keys of :data:`FILTER_COLUMNS`.
    """

    account_id: str
    kind: str
    since: str | None
    until: str | None
    filters: tuple[tuple[str, str], ...]
    limit: int
    offset: int

    def signature(self) -> tuple[Any, ...]:
        return (self.account_id, self.kind, self.since, self.until, self.filters)


@dataclass(frozen=True)
class _Entry:
    version: int
    stored_at: float
    key: tuple[str, str]


class KeysetCache:
    """Bounded map from (query signature, offset) to the key of the row just before it."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()

    def get(self, store: Store, query: LogQuery) -> tuple[str, str] | None:
        entry = self._entries.get((query.signature(), query.offset))
        if entry is None:
            return None
        scope = (query.account_id, query.kind)
        if entry.version != store.versions.get(scope, 0):
            return None
        if entry.stored_at < store.pending_until.get(scope, 0.0):
            return None
        return entry.key

    def put(self, store: Store, query: LogQuery, offset: int, key: tuple[str, str], now: float) -> None:
        scope = (query.account_id, query.kind)
        self._entries[(query.signature(), offset)] = _Entry(store.versions.get(scope, 0), now, key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def page_events(tx: Tx, cache: KeysetCache, query: LogQuery, now: float) -> list[sqlite3.Row]:
    """The rows ``[offset, offset + limit)`` of the query, ordered by ``(created_at, id)``.

    Each row has ``created_at``, ``id``, ``t0`` and ``doc``.
    """
    sql = ["SELECT created_at, id, t0, doc FROM events WHERE account_id = ? AND kind = ?"]
    params: list[Any] = [query.account_id, query.kind]
    seek = cache.get(tx.store, query) if query.offset else None
    if seek is not None:
        sql.append("AND created_at >= ? AND (created_at > ? OR id > ?)")
        params += [seek[0], seek[0], seek[1]]
    elif query.since is not None:
        sql.append("AND created_at >= ?")
        params.append(query.since)
    if query.until is not None:
        sql.append("AND created_at < ?")
        params.append(query.until)
    sql.append("AND visible_at <= ?")
    params.append(now)
    for column, value in query.filters:
        if column not in FILTER_COLUMNS:
            raise ValueError(f"cannot filter events on {column!r}")
        sql.append(f"AND {FILTER_COLUMNS[column]} = ?")
        params.append(value)
    sql.append("ORDER BY created_at, id LIMIT ? OFFSET ?")
    params += [query.limit, 0 if seek is not None else query.offset]
    rows = tx.conn.execute(" ".join(sql), params).fetchall()
    if rows:
        last = rows[-1]
        cache.put(tx.store, query, query.offset + len(rows), (last[0], last[1]), now)
    return rows
