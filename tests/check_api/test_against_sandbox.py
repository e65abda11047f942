"""``votel-check-api`` against the sandbox: all ok as it is, exactly the changed paths when its
paths are renamed or removed, in document mode and in probing mode alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.check_api.conftest import CheckApi
from votel_airflow import endpoints
from votel_airflow.check_api.probing import is_safe_read

if TYPE_CHECKING:
    from votel_airflow.sandbox.server import SandboxServer
    from votel_airflow.testing import SandboxFactory

#: What the changed sandbox serves differently from the contract: safe reads, so probing sees them too.
RENAMED = {endpoints.TASKS: "/todos"}
REMOVED = [endpoints.CHANNELS, endpoints.SETTINGS_DOMAINS]
CHANGED = {endpoints.TASKS, endpoints.CHANNELS, endpoints.SETTINGS_DOMAINS}


@pytest.fixture(scope="module")
def changed_sandbox(votel_sandboxes: SandboxFactory) -> SandboxServer:
    return votel_sandboxes(renamed_paths=RENAMED, removed_paths=REMOVED)


def test_document_mode_finds_the_sandbox_equal_to_the_catalogue(
    check_api: CheckApi, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    run = check_api("--json", host=votel_sandbox.base_url, password=votel_api_key)

    assert run.status == 0, run.out
    assert run.json()["mode"] == "document"
    assert run.json()["source"] == f"{votel_sandbox.base_url}/openapi.json"
    assert set(run.statuses()) == set(endpoints.OPERATIONS)
    assert set(run.statuses().values()) == {"ok"}


def test_probing_mode_finds_every_safe_read_of_the_sandbox(
    check_api: CheckApi, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    run = check_api("--json", "--probe", host=votel_sandbox.base_url, password=votel_api_key)

    assert run.status == 0, run.out
    assert run.json()["mode"] == "probing"
    statuses = run.statuses()
    safe = {op for op in endpoints.OPERATIONS if is_safe_read(*op)}
    assert len(safe) > 25
    assert {op for op, status in statuses.items() if status == "ok"} == safe
    assert {status for op, status in statuses.items() if op not in safe} == {"not checked"}


@pytest.mark.parametrize("mode", [(), ("--probe",)], ids=["document", "probing"])
def test_the_check_names_exactly_the_renamed_and_removed_paths(
    check_api: CheckApi, changed_sandbox: SandboxServer, mode: tuple[str, ...]
) -> None:
    key = changed_sandbox.admin.create_account()
    run = check_api("--json", *mode, host=changed_sandbox.base_url, password=key)

    assert run.status == 1
    failed = {path for (_, path), status in run.statuses().items() if status not in ("ok", "not checked")}
    assert failed == CHANGED
    checked = {op: status for op, status in run.statuses().items() if status != "not checked"}
    assert {status for (_, path), status in checked.items() if path in CHANGED} == {"missing"}
    # The document knows every method of a path; probing sends only the GETs.
    expected = {op for op in endpoints.OPERATIONS if op[1] in CHANGED and (not mode or op[0] == "GET")}
    assert {op for op, status in checked.items() if status == "missing"} == expected


def test_a_failed_endpoint_names_the_operators_that_use_it(
    check_api: CheckApi, changed_sandbox: SandboxServer
) -> None:
    key = changed_sandbox.admin.create_account()
    run = check_api(host=changed_sandbox.base_url, password=key)

    assert run.status == 1
    lines = run.out.splitlines()
    missing = lines.index(next(line for line in lines if line.split()[:3] == ["missing", "GET", "/tasks"]))
    assert "TaskExtractOperator" in lines[missing + 1]
    assert lines[missing + 1].strip().startswith("used by:")


def test_json_output_names_the_users_of_failed_endpoints_only(
    check_api: CheckApi, changed_sandbox: SandboxServer
) -> None:
    key = changed_sandbox.admin.create_account()
    entries = check_api("--json", host=changed_sandbox.base_url, password=key).json()["endpoints"]

    by_op = {(e["method"], e["path"]): e for e in entries}
    assert "TaskExtractOperator" in by_op[("GET", endpoints.TASKS)]["used_by"]
    assert by_op[("GET", endpoints.AGENTS)]["used_by"] == []


def test_text_output_is_grouped_by_section_one_line_per_endpoint(
    check_api: CheckApi, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    run = check_api(host=votel_sandbox.base_url, password=votel_api_key)

    lines = run.out.splitlines()
    assert lines[1].startswith("mode: document")
    assert [line for line in lines if line in endpoints.SECTIONS] == list(endpoints.SECTIONS)
    endpoint_lines = [line for line in lines if line.startswith("  ok ")]
    assert len(endpoint_lines) == len(endpoints.OPERATIONS)
    assert (
        lines[-1]
        == f"summary: {len(endpoints.OPERATIONS)} ok, 0 missing, 0 differs, 0 not allowed, 0 not checked"
    )


def test_section_limits_the_check_to_that_section(
    check_api: CheckApi, changed_sandbox: SandboxServer
) -> None:
    key = changed_sandbox.admin.create_account()
    run = check_api("--json", "--section", "payments", host=changed_sandbox.base_url, password=key)

    assert run.status == 0  # the changed paths are in other sections
    assert {e["section"] for e in run.json()["endpoints"]} == {"payments"}
    assert len(run.json()["endpoints"]) == len(endpoints.SECTIONS["payments"])


def test_without_a_document_the_check_falls_back_to_probing(
    check_api: CheckApi, votel_sandbox: SandboxServer, votel_api_key: str
) -> None:
    # Under /api/v9 the sandbox serves neither a document nor any path.
    run = check_api("--json", host=votel_sandbox.base_url + "/v9", password=votel_api_key)

    assert run.json()["mode"] == "probing"
    assert run.status == 1
    assert {s for (m, p), s in run.statuses().items() if is_safe_read(m, p)} == {"missing"}


@pytest.mark.parametrize("output", [(), ("--json",)], ids=["text", "json"])
@pytest.mark.parametrize("mode", [(), ("--probe",)], ids=["document", "probing"])
def test_the_key_is_never_printed(
    check_api: CheckApi,
    changed_sandbox: SandboxServer,
    output: tuple[str, ...],
    mode: tuple[str, ...],
) -> None:
    key = changed_sandbox.admin.create_account()
    run = check_api(*output, *mode, host=changed_sandbox.base_url, password=key)

    assert run.out
    assert key not in run.out + run.err
    assert key[3:] not in run.out + run.err
