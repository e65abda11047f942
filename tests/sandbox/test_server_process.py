"""The server process: loopback by default, body limit, clean stop, state kept in --db, a fixed today."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import date, datetime, timezone

import psutil
import pytest
import requests

from tests.sandbox.conftest import Api
from votel_airflow.sandbox import clock
from votel_airflow.sandbox.cli import _parser, config_from_args
from votel_airflow.sandbox.config import TODAY_ENV
from votel_airflow.sandbox.server import SandboxServer
from votel_airflow.testing import SandboxFactory


def test_binds_loopback_by_default(sandbox):
    # The listening socket's own address: trying to connect from another interface proves nothing
    # on a machine that has none (tests/reliability/test_sandbox_security.py does that where it can).
    process = psutil.Process(sandbox.pid)
    listening = {c.laddr.ip for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}

    assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert listening == {"127.0.0.1"}


def test_oversized_body_is_413_json(api: Api):
    big = {"first_name": "A", "custom_fields": {"blob": "x" * (1024 * 1024 + 10)}}
    response = api.post("/contacts", json=big)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert api.get("/payments/wallet").status_code == 200


def test_oversized_chunked_body_is_413(api: Api):
    def chunks():
        for _ in range(20):
            yield b"x" * 65536

    response = api.post("/contacts", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_sigterm_then_restart_with_db_keeps_everything(tmp_path):
    db = str(tmp_path / "state.sqlite")
    with SandboxServer(db=db) as first:
        key = first.api_keys[0]
        api = Api(first.base_url, key)
        contact = api.ok("POST", "/contacts", 201, json={"first_name": "Kept", "phone": "+14155550777"})
        api.ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "kept"},
               headers={"Idempotency-Key": "persist"})  # fmt: skip
        created = first.admin.create_account(balance=3.0, seed=False)
        balance = api.ok("GET", "/payments/wallet")["balance"]
        keys = first.api_keys
        proc = first._proc
    assert proc is not None
    assert proc.returncode == 0
    with SandboxServer(db=db) as second:
        assert second.api_keys == keys
        api = Api(second.base_url, key)
        assert api.ok("GET", f"/contacts/{contact['id']}")["first_name"] == "Kept"
        assert api.ok("GET", "/payments/wallet")["balance"] == balance
        assert len(second.admin.records(key, "sms")) == 1
        replay = api.post("/communication/sms", json={"to": "+14155550123", "body": "kept"},
                          headers={"Idempotency-Key": "persist"})  # fmt: skip
        assert replay.status_code == 201
        assert len(second.admin.records(key, "sms")) == 1
        assert len(api.ok("GET", "/contacts", params={"limit": 500})) == 201
        assert Api(second.base_url, created).ok("GET", "/payments/wallet")["balance"] == 3.0


def test_cli_announces_url_keys_token_then_ready_and_stops_on_sigint():
    cmd = [sys.executable, "-m", "votel_airflow.sandbox", "--port", "0", "--no-seed",
           "--api-key", "sk_extra_one", "--admin-token", "tok"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or lines[-1] != "VOTEL_SANDBOX_READY":
            lines.append(proc.stdout.readline().strip())
        assert lines[0].startswith("VOTEL_SANDBOX_URL=http://127.0.0.1:")
        assert lines[0].endswith("/api")
        keys = [line.split("=", 1)[1] for line in lines if line.startswith("VOTEL_SANDBOX_API_KEY=")]
        assert len(keys) == 3
        assert keys[-1] == "sk_extra_one"
        assert "VOTEL_SANDBOX_ADMIN_TOKEN=tok" in lines
        url = lines[0].split("=", 1)[1]
        assert requests.get(f"{url}/agents", headers={"X-API-Key": "sk_extra_one"}, timeout=10).json() == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_export_openapi_flag_writes_the_document(tmp_path):
    target = tmp_path / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "votel_airflow.sandbox", "--export-openapi", str(target)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert target.exists()
    assert str(target) in result.stdout


def test_cli_rejects_bad_fault_rates():
    result = subprocess.run(
        [sys.executable, "-m", "votel_airflow.sandbox", "--error-rate", "1.5"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error_rate" in result.stderr


def test_importing_the_provider_does_not_import_fastapi():
    code = (
        "import sys, votel_airflow, votel_airflow.sandbox, votel_airflow.testing;"
        "print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


def test_restart_on_the_same_port_with_db_serves_the_same_url_and_state(tmp_path):
    db = str(tmp_path / "state.sqlite")
    with SandboxServer(db=db) as first:
        url, key = first.base_url, first.api_keys[0]
        Api(url, key).ok("POST", "/communication/sms", 201, json={"to": "+14155550123", "body": "kept"},
                         headers={"Idempotency-Key": "outage"})  # fmt: skip
    with SandboxServer(db=db, port=first.port) as second:
        assert second.base_url == url
        assert [r["idempotency_key"] for r in second.admin.records(key, "sms")] == ["outage"]


def test_today_fixes_the_week_the_seeded_logs_lead_up_to(votel_sandboxes: SandboxFactory):
    sandbox = votel_sandboxes(today="2024-03-10")
    api = Api(sandbox.base_url, sandbox.admin.create_account())

    def logs(path: str, since: str, until: str) -> list[dict]:
        return list(api.ok("GET", path, params={"since": since, "until": until, "limit": 500}))

    assert sandbox.admin.config()["today"] == "2024-03-10"
    for path in ("/activity/call-logs", "/activity/messaging-logs", "/activity/meeting-logs"):
        assert logs(path, "2024-03-03T00:00:00Z", "2024-03-10T00:00:00Z"), path
        # Between that week and the fixed window (December 2024) nothing is seeded.
        assert logs(path, "2024-03-10T00:00:00Z", "2024-12-01T00:00:00Z") == [], path


def test_the_cli_takes_today_from_the_flag_else_the_environment_else_the_clock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv(TODAY_ENV, "2024-03-10")
    assert config_from_args(_parser().parse_args([])).today == date(2024, 3, 10)
    assert config_from_args(_parser().parse_args(["--today", "2025-02-03"])).today == date(2025, 2, 3)
    monkeypatch.setenv(TODAY_ENV, "March 10")
    with pytest.raises(SystemExit):
        _parser().parse_args([])
    assert TODAY_ENV in capsys.readouterr().err
    monkeypatch.delenv(TODAY_ENV)
    assert config_from_args(_parser().parse_args([])).today is None
    assert clock.today_midnight(None).date() == datetime.now(timezone.utc).date()
