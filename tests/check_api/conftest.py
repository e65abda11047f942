"""Run ``votel-check-api`` in-process on a connection of the test's choosing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from votel_airflow.check_api.cli import main

KEY = "sk_check_api_test_5Jd8Qw2Lx7"


@dataclass(frozen=True)
class Run:
    """What one run of the command printed, and its exit status."""

    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def statuses(self) -> dict[tuple[str, str], str]:
        """``{(method, path): status}`` from a ``--json`` run."""
        return {(e["method"], e["path"]): e["status"] for e in self.json()["endpoints"]}


CheckApi = Callable[..., Run]


@pytest.fixture
def check_api(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CheckApi:
    """``check_api(*args, host=..., password=..., extra=..., conn_type=...)``: point
    ``votel_default`` at ``host`` (unless ``host`` is None), run the command, return a :class:`Run`."""

    def run(
        *args: str,
        host: str | None = None,
        password: str = KEY,
        extra: dict[str, Any] | None = None,
        conn_type: str = "votel",
    ) -> Run:
        if host is not None:
            conn: dict[str, Any] = {"conn_type": conn_type, "host": host, "password": password}
            if extra:
                conn["extra"] = json.dumps(extra)
            monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
        capsys.readouterr()
        status = main(list(args))
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run
