"""The sandbox option for tests: renamed and removed paths change the routes and the document alike."""

from __future__ import annotations

import pytest
import requests

from votel_airflow.sandbox.app import build_api
from votel_airflow.sandbox.cli import main as sandbox_main
from votel_airflow.sandbox.path_changes import change_paths, parse_rename
from votel_airflow.testing import SandboxFactory


def test_a_renamed_path_is_served_and_documented_under_its_new_name(votel_sandboxes: SandboxFactory) -> None:
    sandbox = votel_sandboxes(renamed_paths={"/tasks": "/todos"}, removed_paths=["/channels"])
    headers = {"X-API-Key": sandbox.admin.create_account()}

    assert requests.get(f"{sandbox.base_url}/todos", headers=headers, timeout=10).status_code == 200
    old = requests.get(f"{sandbox.base_url}/tasks", headers=headers, timeout=10)
    assert (old.status_code, old.json()) == (404, {"detail": "Not Found"})
    gone = requests.get(f"{sandbox.base_url}/channels", headers=headers, timeout=10)
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not Found"})
    paths = requests.get(f"{sandbox.base_url}/openapi.json", timeout=10).json()["paths"]
    assert set(paths["/todos"]) == {"get", "post"}
    assert "/tasks" not in paths
    assert "/channels" not in paths
    assert "/tasks/{task_id}" in paths


def test_a_rename_keeps_path_parameters_working() -> None:
    api = build_api(None)
    change_paths(api, {"/contacts/{contact_id}": "/leads/{contact_id}"}, ())

    assert "/leads/{contact_id}" in api.openapi()["paths"]


def test_a_rename_must_keep_the_path_parameters() -> None:
    with pytest.raises(ValueError, match="must keep its path parameters"):
        change_paths(build_api(None), {"/contacts/{contact_id}": "/leads/{id}"}, ())


def test_an_unknown_path_is_refused() -> None:
    with pytest.raises(ValueError, match=r"serves no path \['/nowhere'\]"):
        change_paths(build_api(None), {}, ["/nowhere"])


@pytest.mark.parametrize("option", ["/tasks", "tasks=/todos", "/tasks=todos"])
def test_the_cli_refuses_a_malformed_rename(
    option: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr("votel_airflow.sandbox.serve.serve", lambda *args: served.append(args) or 0)
    with pytest.raises(ValueError, match="OLD=NEW"):
        parse_rename(option)
    with pytest.raises(SystemExit):
        sandbox_main(["--rename-path", option])
    assert "OLD=NEW" in capsys.readouterr().err
    assert served == []


def test_the_cli_passes_renames_and_removals_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setattr("votel_airflow.sandbox.serve.serve", lambda config, *args: served.append(config) or 0)

    sandbox_main(["--rename-path", "/tasks=/todos", "--remove-path", "/channels"])

    (config,) = served
    assert config.renamed_paths == (("/tasks", "/todos"),)  # type: ignore[attr-defined]
    assert config.removed_paths == ("/channels",)  # type: ignore[attr-defined]


def test_the_unchanged_document_is_the_contract_one() -> None:
    # An empty change leaves the document as committed in docs/ (tests/sandbox/test_openapi.py).
    api = build_api(None)
    before = api.openapi()
    change_paths(api, {}, ())

    assert api.openapi() == before
