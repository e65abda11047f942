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
    wallets, rate limits and lets a test count what reached each recipient.
``votel_api_key`` (function)
    the API key of a fresh account holding the deterministic seed data, so every test has a
    tenant nobody else writes to.
``votel_connection`` (function)
    sets ``AIRFLOW_CONN_VOTEL_DEFAULT`` to the sandbox and that key for the test's duration and
    returns the conn id, ``"votel_default"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from votel_airflow.sandbox.server import SandboxServer

CONN_ID = "votel_default"


@pytest.fixture(scope="session")
def votel_sandbox() -> Iterator[SandboxServer]:
    """A sandbox server for the whole test session."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def votel_api_key(votel_sandbox: SandboxServer) -> str:
    """A fresh seeded account's API key: each test gets a clean tenant."""
    return votel_sandbox.admin.create_account()


@pytest.fixture
def votel_connection(
    votel_sandbox: SandboxServer, votel_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point the ``votel_default`` connection at the sandbox; returns the conn id."""
    conn = {"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return CONN_ID
