"""How probing reads each answer: missing, not allowed, differs (with the server's detail), not checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.check_api.conftest import CheckApi
from tests.support import serve_http
from votel_airflow import endpoints

SEEN: list[tuple[str, str]] = []


class _StrangeApi(BaseHTTPRequestHandler):
    """An API without an OpenAPI document that differs from the contract in every way probing sees."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        SEEN.append(("GET", self.path))
        path = url.path.removeprefix("/api")
        if path == "/tasks":
            detail = [{"loc": ["query", "list_id"], "msg": "Field required", "type": "missing"}]
            self._json(422, {"detail": detail})
        elif path == "/channels":
            self._json(404, {"detail": "Not Found"})
        elif path == "/settings/users":
            self._json(403, {"detail": "Upgrade required"})
        elif path == "/payments/products":
            self._json(500, {"detail": "Internal server error"})
        elif path == "/pipelines":
            self._json(404, {"detail": "Account has no pipelines"})
        elif path.endswith("openapi.json"):
            self._json(404, {"detail": "Not Found"})
        else:
            limit = parse_qs(url.query).get("limit")
            self._json(200, {"balance": 1} if path == endpoints.WALLET else [{"limit": limit}])

    def do_POST(self) -> None:
        SEEN.append(("POST", self.path))
        self._json(500, {"detail": "a probe must never send this"})

    do_PUT = do_PATCH = do_DELETE = do_POST


@pytest.fixture
def strange_api() -> Iterator[str]:
    SEEN.clear()
    with serve_http(_StrangeApi) as root:
        yield f"{root}/api"


@pytest.fixture
def results(check_api: CheckApi, strange_api: str) -> dict[tuple[str, str], dict[str, Any]]:
    run = check_api("--json", host=strange_api, extra={"max_retries": 0})
    assert run.json()["mode"] == "probing"
    assert run.status == 1
    return {(e["method"], e["path"]): e for e in run.json()["endpoints"]}


def test_a_fastapi_not_found_means_no_such_path(results: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert results[("GET", endpoints.CHANNELS)]["status"] == "missing"


def test_another_404_means_the_path_exists_and_differs(
    results: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert results[("GET", endpoints.PIPELINES)]["status"] == "differs"
    assert "Account has no pipelines" in results[("GET", endpoints.PIPELINES)]["detail"]


def test_a_403_means_not_allowed_for_this_key(results: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert results[("GET", endpoints.SETTINGS_USERS)]["status"] == "not allowed"
    assert "Upgrade required" in results[("GET", endpoints.SETTINGS_USERS)]["detail"]


def test_a_422_means_our_parameters_differ_and_shows_the_detail(
    results: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert results[("GET", endpoints.TASKS)]["status"] == "differs"
    assert results[("GET", endpoints.TASKS)]["detail"] == "422: list_id: Field required"


def test_a_server_error_leaves_the_endpoint_not_checked(
    results: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert results[("GET", endpoints.PRODUCTS)]["status"] == "not checked"


def test_probing_sends_only_gets_without_ids_and_limit_1_on_lists(
    results: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert {method for method, _ in SEEN} == {"GET"}
    probed = {
        urlsplit(target).path.removeprefix("/api"): parse_qs(urlsplit(target).query) for _, target in SEEN
    }
    assert all("{" not in path for path in probed)
    assert probed[endpoints.AGENTS] == {"limit": ["1"]}
    assert probed[endpoints.WALLET] == {}
    assert results[("POST", endpoints.SMS)]["status"] == "not checked"
