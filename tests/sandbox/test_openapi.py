"""The served OpenAPI document matches docs/sandbox-openapi.json, and fuzzing finds no 5xx."""

from __future__ import annotations

import json
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from votel_airflow import endpoints

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox-openapi.json"


def test_served_openapi_matches_the_committed_document(sandbox):
    served = requests.get(f"{sandbox.base_url}/openapi.json", timeout=10).json()
    committed = json.loads(DOC.read_text())
    assert served == committed, (
        "docs/sandbox-openapi.json is stale: run "
        "`python -m votel_airflow.sandbox --export-openapi docs/sandbox-openapi.json`"
    )


def test_openapi_covers_every_path_of_the_endpoint_catalogue():
    paths = json.loads(DOC.read_text())["paths"]
    catalogue = {p for section in endpoints.SECTIONS.values() for p in section}
    assert catalogue - set(paths) == set()


def test_openapi_lists_the_api_under_the_api_server():
    assert json.loads(DOC.read_text())["servers"] == [{"url": "/api"}]


def test_fuzzing_every_operation_finds_no_server_error(sandbox, votel_api_key):
    """Valid and invalid schemathesis data for every operation: no 5xx (no faults injected)."""
    schema = schemathesis.openapi.from_url(f"{sandbox.base_url}/openapi.json")
    base_url = sandbox.base_url
    session = requests.Session()
    session.headers["X-API-Key"] = votel_api_key
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:

            @settings(
                max_examples=3, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, session=session, timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

            check()
    assert len(operations) >= 70
    assert calls > 2 * len(operations)
    assert failures == []
