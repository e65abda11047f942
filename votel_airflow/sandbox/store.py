"""SQLite state behind one lock: every request reads and writes inside one transaction.

FastAPI runs the sync endpoints in a thread pool, so a single connection is shared under a
``threading.Lock``; a handler's check-then-write (idempotency key, wallet, insert) is therefore
atomic. With a file database, WAL mode keeps every committed write across a SIGTERM.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from votel_airflow.sandbox import clock
from votel_airflow.sandbox.ids import new_id
from votel_airflow.sandbox.schema import DDL, MIGRATIONS

Doc = dict[str, Any]
MICROS = 1_000_000

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def dumps(value: Any) -> str:
    """Compact ASCII JSON, the form every stored document takes."""
    return _encode(value)


def to_micros(amount: float) -> int:
    """Money as integer millionths, so repeated debits of 0.001 never drift."""
    return round(amount * MICROS)


def from_micros(micros: int) -> float:
    """Money as the API prints it."""
    return round(micros / MICROS, 6)


@dataclass(frozen=True)
class Account:
    """A tenant: one API key, one wallet, data of its own."""

    id: str
    api_key: str
    ordinal: int


class InsufficientFunds(Exception):
    """The wallet cannot pay for the action."""


class Tx:
    """The operations of one transaction; obtained from :meth:`Store.tx`."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn

    # accounts and wallet
    def insert_account(self, account: Account, balance: float, created_at: str) -> None:
        self.conn.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, 'USD', ?)",
            (account.id, account.api_key, account.ordinal, to_micros(balance), created_at),
        )
        self.store.remember(account)

    def next_ordinal(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(ordinal), -1) + 1 FROM accounts").fetchone()
        return int(row[0])

    def balance_micros(self, account_id: str) -> int:
        row = self.conn.execute("SELECT balance_micros FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return int(row[0]) if row else 0

    def set_balance(self, account_id: str, balance: float) -> None:
        self.conn.execute(
            "UPDATE accounts SET balance_micros = ? WHERE id = ?", (to_micros(balance), account_id)
        )

    def debit(self, account_id: str, micros: int, description: str, reference_id: str) -> None:
        """Take ``micros`` from the wallet and log a transaction, or raise InsufficientFunds."""
        balance = self.balance_micros(account_id)
        if balance < micros:
            raise InsufficientFunds
        after = balance - micros
        self.conn.execute("UPDATE accounts SET balance_micros = ? WHERE id = ?", (after, account_id))
        created = clock.iso(clock.now())
        tx_id = new_id()
        doc = {
            "id": tx_id,
            "type": "debit",
            "amount": -from_micros(micros),
            "currency": "USD",
            "balance_after": from_micros(after),
            "description": description,
            "reference_id": reference_id,
            "created_at": created,
        }
        self.insert_event(account_id, "transaction", tx_id, created, doc)

    # objects
    def put_object(
        self, account_id: str, kind: str, obj_id: str, doc: Doc, parent_id: str | None = None
    ) -> None:
        self.conn.execute(
            "INSERT INTO objects (account_id, kind, id, parent_id, doc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id, kind, id) DO UPDATE SET doc = excluded.doc,"
            " parent_id = excluded.parent_id",
            (account_id, kind, obj_id, parent_id, dumps(doc)),
        )

    def get_object(self, account_id: str, kind: str, obj_id: str) -> Doc | None:
        row = self.conn.execute(
            "SELECT doc FROM objects WHERE account_id = ? AND kind = ? AND id = ?",
            (account_id, kind, obj_id),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def delete_object(self, account_id: str, kind: str, obj_id: str) -> bool:
        cur = self.conn.execute(
            "DELETE FROM objects WHERE account_id = ? AND kind = ? AND id = ?",
            (account_id, kind, obj_id),
        )
        return cur.rowcount > 0

    def object_docs(
        self,
        account_id: str,
        kind: str,
        parent_id: str | None = None,
        limit: int = -1,
        offset: int = 0,
    ) -> list[str]:
        """Stored JSON texts of one kind, in insertion order (optionally one parent's)."""
        sql = "SELECT doc FROM objects WHERE account_id = ? AND kind = ?"
        params: list[Any] = [account_id, kind]
        if parent_id is not None:
            sql += " AND parent_id = ?"
            params.append(parent_id)
        sql += " ORDER BY seq LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [row[0] for row in self.conn.execute(sql, params)]

    def objects(self, account_id: str, kind: str, parent_id: str | None = None) -> list[Doc]:
        return [json.loads(text) for text in self.object_docs(account_id, kind, parent_id)]

    # events
    def insert_event(
        self,
        account_id: str,
        kind: str,
        event_id: str,
        created_at: str,
        doc: Doc,
        *,
        visible_at: float = 0.0,
        t0: float | None = None,
        contact_id: str | None = None,
        k1: str | None = None,
        k2: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (account_id, kind, id, created_at, visible_at, t0, contact_id,"
            " k1, k2, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, kind, event_id, created_at, visible_at, t0, contact_id, k1, k2, dumps(doc)),
        )
        self.store.touch(account_id, kind, visible_at)

    def insert_event_rows(self, account_id: str, kind: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert of ``(id, created_at, visible_at, t0, contact_id, k1, k2, doc_text)``."""
        self.conn.executemany(
            "INSERT INTO events (account_id, kind, id, created_at, visible_at, t0, contact_id,"
            " k1, k2, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((account_id, kind, *row) for row in rows),
        )
        self.store.touch(account_id, kind, 0.0)

    def get_event(
        self, account_id: str, kind: str, event_id: str, *, pending: bool = False
    ) -> sqlite3.Row | None:
        """One event by id; ``pending`` includes events not yet visible in the logs."""
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM events WHERE id = ? AND account_id = ? AND kind = ? AND visible_at <= ?",
            (event_id, account_id, kind, float("inf") if pending else clock.now()),
        ).fetchone()
        return row

    def update_event(self, account_id: str, kind: str, event_id: str, doc: Doc, k2: str | None) -> None:
        self.conn.execute(
            "UPDATE events SET doc = ?, k2 = ? WHERE id = ? AND account_id = ? AND kind = ?",
            (dumps(doc), k2, event_id, account_id, kind),
        )
        self.store.touch(account_id, kind, 0.0)

    def events_in_lifecycle(self, kind: str) -> list[sqlite3.Row]:
        """Every account's events of ``kind`` still moving through their stages (``t0`` set)."""
        return self.conn.execute(
            "SELECT account_id, id, t0, doc FROM events WHERE kind = ? AND t0 IS NOT NULL", (kind,)
        ).fetchall()

    def retime_event(self, account_id: str, kind: str, event_id: str, doc: Doc, visible_at: float) -> None:
        """Give an event in its lifecycle a new final form and the time the logs list it from."""
        self.conn.execute(
            "UPDATE events SET doc = ?, visible_at = ? WHERE id = ? AND account_id = ? AND kind = ?",
            (dumps(doc), visible_at, event_id, account_id, kind),
        )
        self.store.touch(account_id, kind, visible_at)

    def end_event(
        self, account_id: str, kind: str, event_id: str, doc: Doc, k2: str | None, visible_at: float
    ) -> None:
        """Replace an event by its final form: no more lifecycle, in the logs from ``visible_at``."""
        self.conn.execute(
            "UPDATE events SET doc = ?, k2 = ?, visible_at = ?, t0 = NULL"
            " WHERE id = ? AND account_id = ? AND kind = ?",
            (dumps(doc), k2, visible_at, event_id, account_id, kind),
        )
        self.store.touch(account_id, kind, visible_at)

    def events_where(
        self, account_id: str, kind: str, where: str, params: Sequence[Any]
    ) -> list[sqlite3.Row]:
        """Visible events of one kind matching an extra SQL condition, in time order."""
        return list(
            self.conn.execute(
                f"SELECT * FROM events WHERE account_id = ? AND kind = ? AND visible_at <= ? "
                f"AND ({where}) ORDER BY created_at, id",
                (account_id, kind, clock.now(), *params),
            )
        )

    # records (what reached whom, for tests)
    def record(self, account_id: str, kind: str, doc: Doc) -> None:
        self.conn.execute(
            "INSERT INTO records (account_id, kind, doc) VALUES (?, ?, ?)",
            (account_id, kind, dumps(doc)),
        )

    def records(self, account_id: str, kind: str) -> list[Doc]:
        return [
            json.loads(row[0])
            for row in self.conn.execute(
                "SELECT doc FROM records WHERE account_id = ? AND kind = ? ORDER BY seq",
                (account_id, kind),
            )
        ]

    # idempotency keys
    def idempotent_response(
        self, account_id: str, method: str, path: str, key: str
    ) -> tuple[int, str] | None:
        row = self.conn.execute(
            "SELECT status, body FROM idempotency WHERE account_id = ? AND method = ? "
            "AND path = ? AND key = ? AND created_at > ?",
            (account_id, method, path, key, clock.now() - 24 * 3600),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def remember_response(
        self, account_id: str, method: str, path: str, key: str, status: int, body: str
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account_id, method, path, key, status, body, clock.now()),
        )


class Store:
    """The sandbox's database: one connection, one lock, versions for the paging cache.

    :param path: SQLite file; ``None`` for an in-memory database.
    """

    def __init__(self, path: str | None) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if path:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(DDL)
        for statement in MIGRATIONS:
            self._conn.execute(statement)
        self._accounts: dict[str, Account] = {}
        #: bumped on every write to (account, kind) events, invalidating cached page keys
        self.versions: dict[tuple[str, str], int] = {}
        #: latest visibility time of any (account, kind) event inserted to become visible later
        self.pending_until: dict[tuple[str, str], float] = {}
        #: accounts with contact imports not yet applied
        self.pending_imports: set[str] = set()
        for row in self._conn.execute("SELECT id, api_key, ordinal FROM accounts ORDER BY ordinal"):
            self.remember(Account(row[0], row[1], row[2]))
        for row in self._conn.execute(
            "SELECT account_id, kind, MAX(visible_at) FROM events GROUP BY account_id, kind"
        ):
            self.pending_until[(row[0], row[1])] = float(row[2])
        for row in self._conn.execute(
            "SELECT DISTINCT account_id FROM objects WHERE kind = 'import' AND parent_id = 'pending'"
        ):
            self.pending_imports.add(row[0])

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One transaction under the lock; rolled back when the body raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self, self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def remember(self, account: Account) -> None:
        self._accounts[account.api_key] = account

    def account_for_key(self, api_key: str) -> Account | None:
        return self._accounts.get(api_key)

    def accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda account: account.ordinal)

    def touch(self, account_id: str, kind: str, visible_at: float) -> None:
        key = (account_id, kind)
        self.versions[key] = self.versions.get(key, 0) + 1
        if visible_at > self.pending_until.get(key, 0.0):
            self.pending_until[key] = visible_at

    def close(self) -> None:
        with self._lock:
            self._conn.close()
