"""Test-wide setup: an isolated Airflow home (SQLite), the example DAGs folder, quiet unit-test mode.

The environment is set before anything imports Airflow, whose configuration is read once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = REPO / ".airflow-test"
os.environ.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags_examples"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


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


@pytest.fixture(autouse=True)
def fresh_pacers() -> None:
    """Each test starts with no learned pace: a 429 in one test must not slow the next."""
    from votel_airflow.hooks.pacing import forget_pacers

    forget_pacers()
