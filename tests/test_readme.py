"""The README's example DAG is real: it imports cleanly and runs against the sandbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import dagrun_task_states, run_dag, write_dag
from votel_airflow.sandbox.server import SandboxServer

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_dag_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    dag_blocks = [block for block in blocks if "with DAG(" in block]
    assert len(dag_blocks) == 1, "the README should hold exactly one example DAG"
    return dag_blocks[0]


@pytest.fixture(scope="module")
def votel_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of this module's own.

    Seeded data depends on how many tenants the sandbox made before: with the session's sandbox
    the README's tenant, and so how many of its VIP numbers cannot be delivered to (against the
    example's 5 % tolerance), would change whenever a test is added before this one.
    """
    with SandboxServer() as server:
        yield server


def test_readme_example_dag_runs_and_texts_each_vip_once(
    airflow_db: Path, dags: Path, votel_sandbox: Any, votel_api_key: str, votel_connection: str
) -> None:
    write_dag(dags, readme_dag_source(), "votel_quickstart.py")

    dagrun = run_dag(dags, "votel_quickstart")

    states = dagrun_task_states(dagrun)
    assert set(states.values()) == {"success"}, states
    vip_contacts = requests.get(
        f"{votel_sandbox.base_url}/contacts",
        params={"tag": "vip", "limit": 500},
        headers={"X-API-Key": votel_api_key},
        timeout=30,
    ).json()
    texts = [
        m
        for m in votel_sandbox.admin.records(votel_api_key, "message")
        if m.get("body") == "Thanks for calling!"
    ]
    assert vip_contacts, "the seeded tenant should have VIP contacts"
    assert len(texts) == len(vip_contacts), "each VIP should be texted exactly once"
    assert len({m["recipient"] for m in texts}) == len(texts), "a VIP was texted twice"
