"""DAG tests: the example DAGs parsed with fast waits and no retry delay, and a warehouse per test.

The examples read these variables when a DAG file is parsed, which ``run_dag`` does afresh.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
os.environ["VOTEL_EXAMPLES_POKE_INTERVAL"] = "0.2"
os.environ["VOTEL_EXAMPLES_RETRY_DELAY"] = "0"


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite file behind the ``votel_warehouse`` connection, for this test only."""
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path
