"""What the check cannot run on ends in one clear line and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.check_api.conftest import KEY, CheckApi, Run
from tests.support import serve_http


class _HtmlEverywhere(BaseHTTPRequestHandler):
    """A web app where the API should be: every path answers a 200 HTML page."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b"<!doctype html><html><body>Votel - Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def html_site() -> Iterator[str]:
    with serve_http(_HtmlEverywhere) as root:
        yield root


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"


def _one_clear_line(run: Run) -> str:
    assert run.status == 2
    # Airflow may say it loaded its configuration (on stderr): the check's own words are one line.
    lines = [line for line in run.err.splitlines() if line.startswith("votel-check-api")]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.out + run.err
    assert run.out == ""
    return lines[0]


def test_a_connection_that_does_not_exist(check_api: CheckApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_VOTEL_NOWHERE", raising=False)

    line = _one_clear_line(check_api("--conn-id", "votel_nowhere"))

    assert "'votel_nowhere' does not exist" in line


def test_a_connection_of_another_type(check_api: CheckApi) -> None:
    line = _one_clear_line(check_api(host="https://example.test/api", conn_type="http"))

    assert "is of type 'http', not 'votel'" in line


def test_a_connection_with_an_invalid_key_field(check_api: CheckApi) -> None:
    line = _one_clear_line(check_api(host="https://example.test/api", password="not-a-key"))

    assert "API Key does not start with 'sk_'" in line


def test_a_base_url_that_answers_html(check_api: CheckApi, html_site: str) -> None:
    line = _one_clear_line(check_api(host=html_site))

    assert "a page that is not the API's JSON" in line
    assert "ends in /api" in line


def test_a_timeout(check_api: CheckApi, silent_server: str) -> None:
    line = _one_clear_line(check_api(host=silent_server, extra={"timeout": 0.3, "max_retries": 0}))

    assert f"no answer from {silent_server}" in line
    assert "Timeout" in line


def test_json_output_reports_the_error_as_json(check_api: CheckApi, html_site: str) -> None:
    run = check_api("--json", host=html_site)

    assert run.status == 2
    assert json.loads(run.out)["exit_status"] == 2
    assert "not the API's JSON" in json.loads(run.out)["error"]
    assert KEY not in run.out


def test_the_module_entry_point_exits_2_without_a_traceback(html_site: str) -> None:
    conn = {"conn_type": "votel", "host": html_site, "password": KEY}
    env = {**os.environ, "AIRFLOW_CONN_VOTEL_DEFAULT": json.dumps(conn)}
    done = subprocess.run(
        [sys.executable, "-m", "votel_airflow.check_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("votel-check-api: ")
    assert KEY not in done.stdout + done.stderr
