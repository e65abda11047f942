"""The SQLite schema of the sandbox's state.

Four shapes cover the whole API: accounts (tenants and wallets), contacts (searchable, unique
phone and e-mail per account), objects (small JSON documents such as agents or workflows, listed
in insertion order) and events (time-stamped log rows such as calls or messages, listed by
``(created_at, id)``). Every row carries its account, so tenants never mix.
"""

from __future__ import annotations

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    api_key TEXT NOT NULL UNIQUE,
    ordinal INTEGER NOT NULL,
    balance_micros INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    tags TEXT NOT NULL,
    search TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_id ON contacts (account_id, id);
CREATE INDEX IF NOT EXISTS contacts_order ON contacts (account_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_phone ON contacts (account_id, phone)
    WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS contacts_email ON contacts (account_id, email)
    WHERE email IS NOT NULL;
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent_id TEXT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_id ON objects (account_id, kind, id);
CREATE INDEX IF NOT EXISTS objects_parent ON objects (account_id, kind, parent_id, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    visible_at REAL NOT NULL,
    t0 REAL,
    contact_id TEXT,
    k1 TEXT,
    k2 TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (account_id, kind, created_at, id);
CREATE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS events_contact ON events (account_id, contact_id)
    WHERE contact_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_kind ON records (account_id, kind, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    account_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (account_id, method, path, key)
);
"""
#: Run after :data:`DDL` on every open. Contacts stored before the 2026-12-b consent fields (a
#: database file of an older sandbox) get their defaults, so every contact read carries them.
MIGRATIONS = (
    "UPDATE contacts SET doc = json_set(doc, '$.dnd', json('false'), '$.dnd_channels', json('[]'),"
    " '$.timezone', NULL) WHERE json_type(doc, '$.dnd') IS NULL",
)
