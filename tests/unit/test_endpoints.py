"""The endpoint catalogue: every contract path once, filled with percent-encoded parameters."""

from __future__ import annotations

from collections import Counter

import pytest

from tests import contract as api_contract
from votel_airflow import endpoints


def test_every_contract_path_is_in_the_catalogue_exactly_once() -> None:
    catalogue = Counter(path for paths in endpoints.SECTIONS.values() for path in paths)
    contract = api_contract.paths()

    assert len(contract) > 60  # the parse found the tables
    assert sorted(contract - set(catalogue)) == []
    assert sorted(set(catalogue) - contract) == []
    assert [path for path, count in catalogue.items() if count > 1] == []


def test_the_catalogue_has_one_section_per_section_of_the_contract() -> None:
    assert set(api_contract.sections()) == set(endpoints.SECTIONS)


def test_the_catalogue_operations_are_the_contract_rows() -> None:
    contract = api_contract.operations()

    assert len(contract) > 70
    assert sorted(set(endpoints.OPERATIONS) - contract) == []
    assert sorted(contract - set(endpoints.OPERATIONS)) == []


def test_the_single_documents_are_gets_without_parameters() -> None:
    for path in endpoints.SINGLE_DOCUMENTS:
        assert ("GET", path) in endpoints.OPERATIONS
        assert endpoints.placeholders(path) == []


def test_every_section_has_entries() -> None:
    assert set(endpoints.SECTIONS) == {
        "agents", "activity", "communication", "conversations", "contacts", "tasks", "workflows",
        "calendars", "payments", "click_tracking", "settings",
    }  # fmt: skip
    assert all(endpoints.SECTIONS[name] for name in endpoints.SECTIONS)


def test_every_module_template_is_in_a_section() -> None:
    templates = {
        value for name, value in vars(endpoints).items() if name.isupper() and isinstance(value, str)
    }
    listed = {path for paths in endpoints.SECTIONS.values() for path in paths}
    assert templates == listed


def test_path_fills_placeholders() -> None:
    assert endpoints.path(endpoints.AGENT_VERSION_DEPLOY, agent_id="a1", version_id="v2") == (
        "/agents/a1/versions/v2/deploy"
    )


def test_path_percent_encodes_so_an_id_cannot_change_the_route() -> None:
    filled = endpoints.path(endpoints.CONTACT, contact_id="../agents/x?y=1#z")
    assert filled == "/contacts/..%2Fagents%2Fx%3Fy%3D1%23z"
    assert filled.count("/") == 2


def test_path_encodes_spaces_and_unicode() -> None:
    assert (
        endpoints.path(endpoints.WORKFLOW_VARIABLE, name="täg name") == "/workflow-variables/t%C3%A4g%20name"
    )


def test_path_rejects_a_missing_parameter() -> None:
    with pytest.raises(ValueError, match=r"missing \['version_id'\]"):
        endpoints.path(endpoints.AGENT_VERSION_DEPLOY, agent_id="a1")


def test_path_rejects_an_extra_parameter() -> None:
    with pytest.raises(ValueError, match=r"unexpected \['agent_id'\]"):
        endpoints.path(endpoints.CONTACT, contact_id="c1", agent_id="a1")


@pytest.mark.parametrize("value", ["", None])
def test_path_rejects_an_empty_parameter(value: object) -> None:
    with pytest.raises(ValueError, match="contact_id must not be empty"):
        endpoints.path(endpoints.CONTACT, contact_id=value)


def test_placeholders_lists_names_in_order() -> None:
    assert endpoints.placeholders(endpoints.WORKFLOW_ENROLLMENT) == ["workflow_id", "enrollment_id"]
    assert endpoints.placeholders(endpoints.AGENTS) == []
