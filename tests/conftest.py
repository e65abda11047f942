"""Test-wide setup: an isolated Airflow home (SQLite), the example DAGs folder, quiet unit-test mode,
and a fixed "today" for every sandbox the suite starts.

The environment is set before anything imports Airflow, whose configuration is read once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import POLICY_NOW, SANDBOX_TODAY
from votel_airflow.defaults import POLICY_CLOCK_ENV
from votel_airflow.hooks.pace_store import DIR_VARIABLE as PACING_DIR_ENV
from votel_airflow.sandbox.config import TODAY_ENV
from votel_airflow.testing import point_connection

if TYPE_CHECKING:
    from votel_airflow.sandbox.server import SandboxServer
    from votel_airflow.testing import SandboxFactory

REPO = Path(__file__).resolve().parent.parent
E2E = REPO / "tests" / "e2e"
AIRFLOW_HOME = REPO / ".airflow-test"
os.environ.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags_examples"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# A fixed key for the test DB, which outlives each pytest process: without one every process makes
# its own, and the trigger rows an asset watcher (votel_reply_followup) left encrypted in the DB by an
# earlier run cannot be read back when the next run syncs the DAG. A test value, guarding nothing.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "-r5ty-jrET7kQB8R7RT-ksjm8xMYRFTCliQdtyRrcqM=")
# Set, not defaulted: the tests read SANDBOX_TODAY, so the sandboxes must not follow another day.
os.environ[TODAY_ENV] = SANDBOX_TODAY.date().isoformat()
# Quiet hours stay on in every test; the clock they are judged by is fixed instead (tests/support.py).
os.environ[POLICY_CLOCK_ENV] = POLICY_NOW.isoformat()
# The machine's shared paces (one file per account, kept after a process ends) live in a folder of
# this session's: sandboxes seeded alike hand out the same first key, a port comes free and is
# reused, so a pace another test or another pytest process (CI's parallel compat lanes) left behind
# would otherwise slow a test that happens to get the same address and key.
os.environ.setdefault(PACING_DIR_ENV, tempfile.mkdtemp(prefix="votel-pacing-tests-"))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/e2e alone unless ``-m e2e`` asks for it (``make e2e``).

    That tier needs the ``[e2e]`` extra, PostgreSQL and Redis, and takes minutes: ``make test``
    stays fast and runs in a venv without those packages.
    """
    if collection_path == E2E and "e2e" not in (config.option.markexpr or "").replace("not e2e", ""):
        return True
    return None


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite under .airflow-test), for ``dag.test()``."""
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def dags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGs folder for test DAG files that ``dag.test()`` also syncs from.

    ``dag.test()`` re-reads the configured DAGs folder, so it must point at the test's folder.
    """
    from airflow import settings

    folder = tmp_path / "dags"
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
    return folder


@pytest.fixture
def sandbox(votel_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox, with faults and the rate limit cleared after the test whatever happens."""
    yield votel_sandbox
    votel_sandbox.admin.clear_faults()
    votel_sandbox.admin.set_rate_limit(None)


@pytest.fixture(scope="session")
def slow_votel_sandbox(votel_sandboxes: SandboxFactory) -> SandboxServer:
    """A second sandbox whose calls, campaigns and import jobs take minutes, not fractions of a
    second: what a kill switch must stop has to be still running when the test stops it."""
    return votel_sandboxes(call_stage_seconds=60, enrollment_seconds=120, job_seconds=60)


@pytest.fixture
def slow_votel_key(slow_votel_sandbox: SandboxServer) -> str:
    """A fresh tenant of the slow sandbox."""
    return slow_votel_sandbox.admin.create_account()


@pytest.fixture
def slow_votel_connection(
    slow_votel_sandbox: SandboxServer, slow_votel_key: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``votel_default`` pointed at the slow sandbox and a fresh tenant; returns the conn id."""
    return point_connection(monkeypatch, slow_votel_sandbox, slow_votel_key)


@pytest.fixture(autouse=True)
def fresh_pacers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no learned pace: a 429 in one test (or in another run of the suite on
    this machine, through the shared pace files) must not slow the next."""
    from votel_airflow.hooks.pace_store import DIR_VARIABLE
    from votel_airflow.hooks.pacing import forget_pacers

    forget_pacers()
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path_factory.mktemp("pacing")))
