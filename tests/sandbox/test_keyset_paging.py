"""Keyset seeks behind offset paging return exactly what OFFSET would, even across writes."""

from __future__ import annotations

import json

from votel_airflow.sandbox import bulk, clock
from votel_airflow.sandbox.logs import KeysetCache, LogQuery, page_events
from votel_airflow.sandbox.store import Store

ACCOUNT = "acct"


def _store(count: int) -> Store:
    store = Store(None)
    with store.tx() as tx:
        rows = bulk.call_log_rows("t", count, 1.7e9, 1.7e9 + 3600, ["agent"], [], "+14155550100")
        tx.insert_event_rows(ACCOUNT, "call", list(rows))
    return store


def _page(
    store: Store, cache: KeysetCache, offset: int, limit: int = 100, now: float | None = None
) -> list[str]:
    query = LogQuery(ACCOUNT, "call", None, None, (), limit, offset)
    with store.tx() as tx:
        return [row["id"] for row in page_events(tx, cache, query, clock.now() if now is None else now)]


def _offset_truth(store: Store, offset: int, limit: int = 100) -> list[str]:
    with store.tx() as tx:
        rows = tx.conn.execute(
            "SELECT id FROM events WHERE account_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
            (ACCOUNT, limit, offset),
        ).fetchall()
    return [row[0] for row in rows]


def test_sequential_pages_match_offset_results():
    store, cache = _store(1000), KeysetCache()
    for offset in range(0, 1000, 100):
        assert _page(store, cache, offset) == _offset_truth(store, offset)


def test_cached_key_is_not_used_after_an_insert():
    store, cache = _store(300), KeysetCache()
    _page(store, cache, 0)
    with store.tx() as tx:
        doc = {"id": "00000000-0000-4000-8000-000000000000", "created_at": clock.iso(0)}
        tx.insert_event(ACCOUNT, "call", doc["id"], doc["created_at"], doc)
    assert _page(store, cache, 100) == _offset_truth(store, 100)


def test_cached_key_is_not_used_while_rows_are_pending_visibility():
    store, cache = _store(300), KeysetCache()
    # The pages are read at given instants, before and after the row shows, not on the wall clock:
    # a test descheduled for the row's 0.2 s would read the first page after it showed.
    now = clock.now()
    with store.tx() as tx:
        doc = {"id": "00000000-0000-4000-8000-000000000001", "created_at": clock.iso(0)}
        tx.insert_event(ACCOUNT, "call", doc["id"], doc["created_at"], doc, visible_at=now + 0.2)
    first = _page(store, cache, 0, now=now)
    second = _page(store, cache, 100, now=now + 0.25)
    assert first[0] != doc["id"]
    assert second == _offset_truth(store, 100)


def test_bulk_rows_are_deterministic_and_valid_json():
    a = list(bulk.call_log_rows("seed", 50, 1.7e9, 1.7e9 + 60, ["x"], [("c", "+14155550107")], "+1"))
    b = list(bulk.call_log_rows("seed", 50, 1.7e9, 1.7e9 + 60, ["x"], [("c", "+14155550107")], "+1"))
    assert a == b
    docs = [json.loads(row[-1]) for row in a]
    assert {d["outcome"] for d in docs} == {"not_interested"}
    assert all(d["to"] == "+14155550107" and d["contact_id"] == "c" for d in docs)
