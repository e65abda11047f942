"""Every row of the bad-input table fails the right way: typed error, field and value named, no request.

The rows live in :mod:`tests.reliability.bad_input_cases`; ``docs/reference/bad-input.md`` is
generated from them and checked here for drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.bad_input_cases import CASES, DOC, Case, World, render_markdown
from tests.reliability.conftest import CONN_ID
from votel_airflow.sandbox.server import SandboxServer


@pytest.fixture
def world(
    sandbox: SandboxServer, votel_api_key: str, stub_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    def use_connection(host: str | None, password: str | None, **extra: Any) -> None:
        conn: dict[str, Any] = {"conn_type": "votel", "host": host, "password": password}
        if extra:
            conn["extra"] = json.dumps(extra)
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))

    use_connection(sandbox.base_url, votel_api_key)
    out = tmp_path / "out"
    out.mkdir()
    return World(sandbox.base_url, votel_api_key, out, stub_url, use_connection, sandbox.admin)


def test_the_table_has_at_least_thirty_distinct_cases() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_fails_with_a_typed_error_naming_field_and_value(
    case: Case, world: World, sandbox: SandboxServer
) -> None:
    # Resolving ids (a workflow to enroll in) is set-up, not the case: do it before counting.
    before = sandbox.admin.stats()["requests_total"]

    with pytest.raises(case.error) as caught:
        case.trigger(world)

    message = str(caught.value)
    missing = [part for part in case.contains if part not in message]
    assert not missing, f"message lacks {missing}: {message!r}"
    assert world.api_key not in message
    assert list(world.out.iterdir()) == [], "something was written at the destination"
    if not case.sends_request:
        requests = sandbox.admin.stats()["requests_total"] - before
        set_up = _set_up_requests(case)
        assert requests == set_up, f"{requests - set_up} request(s) left for invalid input"


def _set_up_requests(case: Case) -> int:
    # The enrollment rows look the workflow up (one GET /workflows) before building the operator.
    return 1 if case.id in {"enroll-batch-over-500"} else 0


def test_docs_table_matches_the_parametrised_table() -> None:
    assert DOC.read_text() == render_markdown(), (
        "docs/reference/bad-input.md drifted from tests/reliability/bad_input_cases.py; regenerate it with "
        "`python -m tests.reliability.bad_input_cases > docs/reference/bad-input.md`"
    )
