"""The served OpenAPI document matches docs/sandbox-openapi.json and the API contract; no 5xx."""

from __future__ import annotations

import json
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests import contract as api_contract
from votel_airflow import endpoints

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox-openapi.json"
METHODS = frozenset({"get", "post", "put", "patch", "delete"})
#: Operations the sandbox serves beyond the contract, each with why it may.
SANDBOX_ONLY = {
    # The contract names this URL only as the export job's `download_url`; the sandbox serves it.
    ("GET", "/contacts/exports/{export_id}/download"),
}
#: The sandbox's own admin API (accounts, faults, records) is tooling, not the Votel API.
ADMIN_PREFIX = "/_admin"
#: What the 2026-12-b contract added for consent (issue #22).
CONSENT_FILTERS = {
    ("get", "/activity/messaging-logs"): {"channel", "contact_id"},
    ("get", "/contacts"): {"dnd"},
}
CONSENT_FIELDS = {"dnd", "dnd_channels", "timezone"}


def served_operations() -> set[tuple[str, str]]:
    document = json.loads(DOC.read_text())
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if not path.startswith(ADMIN_PREFIX)
        for method in operations
        if method in METHODS
    }


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


def test_the_sandbox_serves_every_operation_of_the_contract_and_no_other() -> None:
    contract, served = api_contract.operations(), served_operations()

    assert len(contract) > 70  # the parse found the tables
    assert sorted(contract - served) == []
    assert sorted(served - contract - SANDBOX_ONLY) == []
    assert sorted(SANDBOX_ONLY - served) == [], "an allowed extra is gone: drop it from SANDBOX_ONLY"


def test_the_sandbox_takes_the_filters_the_contract_added_for_consent() -> None:
    paths = json.loads(DOC.read_text())["paths"]
    missing = {
        f"{method.upper()} {path}": sorted(names - {p["name"] for p in paths[path][method]["parameters"]})
        for (method, path), names in CONSENT_FILTERS.items()
    }
    assert {operation: names for operation, names in missing.items() if names} == {}


def test_a_contact_update_takes_the_consent_fields_of_the_contract() -> None:
    schemas = json.loads(DOC.read_text())["components"]["schemas"]
    assert sorted(CONSENT_FIELDS - set(schemas["ContactUpdate"]["properties"])) == []


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
