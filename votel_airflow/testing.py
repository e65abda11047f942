"""pytest plugin: a running Votel sandbox and a ready ``votel`` connection for DAG tests.

Installed with the provider (entry point ``pytest11: votel``), so the fixtures are available in
any test suite without imports::

    def test_my_dag_sends_one_sms_per_vip(votel_sandbox, votel_api_key, votel_connection):
        dag.test()  # tasks use conn id "votel_default", which now points at the sandbox
        sms = votel_sandbox.admin.records(votel_api_key, "sms")
        assert len(sms) == 3

Fixtures:

``votel_sandbox`` (session)
    a :class:`~votel_airflow.sandbox.SandboxServer` started on a free loopback port, with fast
    stage timings, stopped at the end of the session. ``votel_sandbox.admin`` drives faults,
    wallets, rate limits and lets a test count what reached each recipient; its
    ``inject_inbound(key, from_="+14155550150", body="STOP", at=...)`` stores a reply (an
    opt-out last week, say) in the messaging log, linked to the contact with that number.
``votel_sandboxes`` (session)
    starts sandboxes with other options: ``votel_sandboxes(call_stage_seconds=60)`` returns a
    running server (one per distinct set of options, shared by the session, stopped at its end).
    ``votel_sandboxes(renamed_paths={"/tasks": "/todos"}, removed_paths=["/channels"])`` plays a
    service whose paths differ from the contract (its routes and its OpenAPI document both).
    ``votel_sandboxes(today="2026-06-15")`` fixes the day the seeded week of logs leads up to;
    ``VOTEL_SANDBOX_TODAY``, set before the first sandbox starts, does so for all of them.
``votel_api_key`` (function)
    the API key of a fresh account holding the deterministic seed data, so every test has a
    tenant nobody else writes to.
``votel_connection`` (function)
    sets ``AIRFLOW_CONN_VOTEL_DEFAULT`` to the sandbox and that key for the test's duration and
    returns the conn id, ``"votel_default"``.

Every pytest run loads this plugin, including runs that use none of it, so it imports only pytest
and the standard library: the sandbox client, Airflow and the server's FastAPI are loaded when a
fixture is first used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from votel_airflow.defaults import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from votel_airflow.sandbox.server import SandboxServer

CONN_ID = DEFAULT_CONN_ID

#: ``votel_sandboxes(**options)``: a running sandbox with those :class:`SandboxServer` options.
SandboxFactory = Callable[..., "SandboxServer"]


def point_connection(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, api_key: str, conn_id: str = CONN_ID
) -> str:
    """Point the Airflow connection ``conn_id`` at ``sandbox`` with ``api_key``, for one test.

    :param monkeypatch: the test's ``monkeypatch`` (the variable is removed after the test).
    :param sandbox: a running sandbox.
    :param api_key: the tenant's key, e.g. from ``sandbox.admin.create_account()``.
    :param conn_id: the connection to set; returned.
    """
    conn = {"conn_type": "votel", "host": sandbox.base_url, "password": api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture(scope="session")
def votel_sandboxes() -> Iterator[SandboxFactory]:
    """Start sandboxes on demand, one per distinct set of options, all stopped at the end."""
    from votel_airflow.sandbox.server import SandboxServer

    running: dict[str, SandboxServer] = {}
    with ExitStack() as stack:

        def start(**options: Any) -> SandboxServer:
            key = json.dumps(options, sort_keys=True, default=str)
            if key not in running:
                running[key] = stack.enter_context(SandboxServer(**options))
            return running[key]

        yield start


@pytest.fixture(scope="session")
def votel_sandbox(votel_sandboxes: SandboxFactory) -> SandboxServer:
    """A sandbox server for the whole test session (fast stage timings)."""
    return votel_sandboxes()


@pytest.fixture
def votel_api_key(votel_sandbox: SandboxServer) -> str:
    """A fresh seeded account's API key: each test gets a clean tenant."""
    return votel_sandbox.admin.create_account()


@pytest.fixture
def votel_connection(
    votel_sandbox: SandboxServer, votel_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point the ``votel_default`` connection at the sandbox; returns the conn id."""
    return point_connection(monkeypatch, votel_sandbox, votel_api_key)
