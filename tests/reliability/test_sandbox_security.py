"""The sandbox refuses what it must: no key, another tenant's objects, a wrong admin token, huge bodies."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from votel_airflow.sandbox.config import SandboxConfig
from votel_airflow.sandbox.server import SandboxServer

TIMEOUT = 30


def _get(sandbox: SandboxServer, path: str, key: str | None = None, **kwargs: object) -> requests.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return requests.get(f"{sandbox.base_url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def test_request_without_a_key_is_refused_with_401(sandbox: SandboxServer) -> None:
    response = _get(sandbox, "/agents")
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


def test_unknown_key_is_refused_with_401(sandbox: SandboxServer) -> None:
    assert _get(sandbox, "/agents", "sk_sandbox_not_a_real_key").status_code == 401


def test_another_accounts_objects_are_not_found_with_my_key(sandbox: SandboxServer) -> None:
    owner = sandbox.admin.create_account()
    intruder = sandbox.admin.create_account()
    contact = _get(sandbox, "/contacts", owner, params={"limit": 1}).json()[0]
    workflow = _get(sandbox, "/workflows", owner).json()[0]
    agent = _get(sandbox, "/agents", owner).json()[0]

    for path in (f"/contacts/{contact['id']}", f"/workflows/{workflow['id']}", f"/agents/{agent['id']}"):
        assert _get(sandbox, path, intruder).status_code == 404, path
        assert _get(sandbox, path, owner).status_code == 200, path
    patched = requests.patch(
        f"{sandbox.base_url}/contacts/{contact['id']}",
        headers={"X-API-Key": intruder},
        json={"first_name": "Mallory"},
        timeout=TIMEOUT,
    )
    assert patched.status_code == 404
    assert _get(sandbox, f"/contacts/{contact['id']}", owner).json()["first_name"] != "Mallory"
    # The intruder's own lists never show the owner's objects either.
    assert contact["id"] not in {
        c["id"] for c in _get(sandbox, "/contacts", intruder, params={"limit": 500}).json()
    }


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_admin_api_refuses_a_missing_or_wrong_token(sandbox: SandboxServer, token: str | None) -> None:
    headers = {} if token is None else {"X-Admin-Token": token}
    for method, path in (
        ("GET", "/_admin/stats"),
        ("POST", "/_admin/accounts"),
        ("DELETE", "/_admin/faults"),
    ):
        response = requests.request(
            method, f"{sandbox.base_url}{path}", headers=headers, json={}, timeout=TIMEOUT
        )
        assert response.status_code == 403, (method, path, response.status_code)


def test_an_api_key_is_not_an_admin_token(sandbox: SandboxServer, votel_api_key: str) -> None:
    response = requests.get(
        f"{sandbox.base_url}/_admin/stats", headers={"X-Admin-Token": votel_api_key}, timeout=TIMEOUT
    )
    assert response.status_code == 403


def test_sandbox_binds_loopback_by_default(sandbox: SandboxServer) -> None:
    assert SandboxConfig().host == "127.0.0.1"
    assert urlsplit(sandbox.base_url).hostname == "127.0.0.1"
    outside = _non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with (
        pytest.raises((ConnectionRefusedError, TimeoutError)),
        socket.create_connection((outside, sandbox.port), timeout=2),
    ):
        pass


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # No packet is sent: connecting a UDP socket only picks the outgoing interface.
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_body_over_the_size_limit_gets_413_and_the_server_keeps_serving(
    sandbox: SandboxServer, votel_api_key: str
) -> None:
    limit = int(sandbox.admin.config()["max_body_bytes"])
    response = requests.post(
        f"{sandbox.base_url}/communication/sms",
        headers={"X-API-Key": votel_api_key, "Content-Type": "application/json"},
        data=b'{"to": "+14155550123", "body": "' + b"x" * (limit + 1) + b'"}',
        timeout=TIMEOUT,
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert sandbox.admin.records(votel_api_key, "sms") == []
    assert _get(sandbox, "/agents", votel_api_key).status_code == 200


def test_unknown_route_answers_fastapis_404_not_a_500(sandbox: SandboxServer, votel_api_key: str) -> None:
    response = _get(sandbox, "/no-such-route", votel_api_key)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
