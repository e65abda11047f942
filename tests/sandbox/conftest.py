"""One sandbox subprocess for the whole run; a fresh account (tenant) per test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from votel_airflow.sandbox.server import SandboxServer

TIMEOUT = 30


class Api:
    """A requests session bound to one sandbox URL and API key."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["X-API-Key"] = key

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None


@pytest.fixture
def api(sandbox: SandboxServer, votel_api_key: str) -> Api:
    return Api(sandbox.base_url, votel_api_key)


@pytest.fixture
def unhurried_api(votel_sandboxes: Callable[..., SandboxServer]) -> Api:
    """A fresh tenant of a sandbox whose calls, messages and import jobs spend 1 s in each stage.

    A test that watches every stage go by polls far faster than that, but on a loaded machine one
    poll can come late by more than the session sandbox's 0.1-0.2 s stages and miss a stage.
    """
    server = votel_sandboxes(call_stage_seconds=1.0, message_stage_seconds=1.0, job_seconds=1.0)
    return Api(server.base_url, server.admin.create_account())


@pytest.fixture
def make_api(sandbox: SandboxServer) -> Callable[..., Api]:
    def make(key: str | None = None, **account: Any) -> Api:
        return Api(sandbox.base_url, key if key is not None else sandbox.admin.create_account(**account))

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)
