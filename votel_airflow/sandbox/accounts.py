"""Accounts (tenants): the seeded ones made at first start, and those made at run time."""

from __future__ import annotations

import json
import random
from datetime import date

from votel_airflow.sandbox import clock
from votel_airflow.sandbox.config import SandboxConfig
from votel_airflow.sandbox.ids import random_api_key, seeded_api_key, seeded_id
from votel_airflow.sandbox.seed import seed_account
from votel_airflow.sandbox.store import Account, Store

STARTUP_KEYS = "startup_keys"


def create_account(
    store: Store,
    *,
    balance: float,
    seed: int | None,
    api_key: str | None = None,
    today: date | None = None,
) -> Account:
    """A new account; filled with the deterministic data of ``(seed, ordinal)`` unless None.

    ``today`` is the day its seeded week of logs leads up to (None: the current UTC day).
    """
    with store.tx() as tx:
        ordinal = tx.next_ordinal()
        account_id = seeded_id(random.Random(f"votel-sandbox:account:{seed}:{ordinal}"))
        account = Account(account_id, api_key or random_api_key(), ordinal)
        tx.insert_account(account, balance, clock.iso(clock.now()))
        if seed is not None:
            seed_account(tx, account.id, seed, ordinal, today)
    return account


def startup_accounts(store: Store, config: SandboxConfig) -> list[Account]:
    """The accounts announced at start: seeded on an empty database, then ``config.api_keys``.

    On a database that already holds state nothing is seeded again; the same accounts (and
    keys) are announced as before, plus any new ``--api-key``.
    """
    with store.tx() as tx:
        row = tx.conn.execute("SELECT value FROM meta WHERE key = ?", (STARTUP_KEYS,)).fetchone()
    keys: list[str] = json.loads(row[0]) if row else []
    if row is None:
        for ordinal in range(config.accounts):
            key = seeded_api_key(config.seed, ordinal) if config.seed is not None else None
            account = create_account(
                store, balance=config.balance, seed=config.seed, api_key=key, today=config.today
            )
            keys.append(account.api_key)
    for key in config.api_keys:
        if store.account_for_key(key) is None:
            create_account(store, balance=config.balance, seed=config.seed, api_key=key, today=config.today)
        if key not in keys:
            keys.append(key)
    with store.tx() as tx:
        tx.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (STARTUP_KEYS, json.dumps(keys)))
    accounts = [store.account_for_key(key) for key in keys]
    return [account for account in accounts if account is not None]
