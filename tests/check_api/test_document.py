"""Document mode's comparison: what counts as the same path, and what makes an endpoint differ."""

from __future__ import annotations

from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.check_api.document import compare, shape
from votel_airflow.check_api.results import CheckAborted, Status

BASE = "https://app.votel.ai/api"


def _document(paths: dict[str, Any], servers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.1.0", "paths": paths, "components": {"schemas": {}}}
    if servers is not None:
        doc["servers"] = servers
    return doc


def _one(document: dict[str, Any], method: str, path: str) -> tuple[Status, str]:
    (result,) = compare(document, BASE, [(method, path)])
    return result.status, result.detail


def test_placeholder_names_do_not_matter() -> None:
    assert shape("/contacts/{id}") == shape(endpoints.CONTACT)
    doc = _document({"/contacts/{id}": {"get": {}}}, [{"url": "/api"}])

    assert _one(doc, "GET", endpoints.CONTACT) == (Status.OK, "")


def test_paths_written_with_the_base_prefix_are_read_relative_to_it() -> None:
    doc = _document({"/api/agents": {"get": {}}})

    assert _one(doc, "GET", endpoints.AGENTS) == (Status.OK, "")


def test_a_path_absent_from_the_document_is_missing() -> None:
    doc = _document({"/agents": {"get": {}}}, [{"url": "/api"}])

    assert _one(doc, "GET", endpoints.TASKS)[0] is Status.MISSING


def test_a_path_without_our_method_differs_and_names_the_methods_it_has() -> None:
    doc = _document({"/tasks": {"get": {}, "parameters": []}}, [{"url": "/api"}])

    status, detail = _one(doc, "POST", endpoints.TASKS)

    assert status is Status.DIFFERS
    assert detail == "the path exists, but only for GET"


def test_a_required_query_parameter_differs() -> None:
    parameter = {"name": "list_id", "in": "query", "required": True}
    doc = _document({"/tasks": {"get": {"parameters": [parameter]}}}, [{"url": "/api"}])

    assert _one(doc, "GET", endpoints.TASKS) == (Status.DIFFERS, "requires query parameter(s) list_id")


def test_a_required_body_field_the_provider_does_not_send_differs() -> None:
    schema = {"type": "object", "required": ["to", "body", "sender_id"], "properties": {}}
    doc = _document(
        {
            "/communication/sms": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Sms"}}}
                    }
                }
            }
        },
        [{"url": "/api"}],
    )
    doc["components"]["schemas"]["Sms"] = schema

    assert _one(doc, "POST", endpoints.SMS) == (Status.DIFFERS, "requires body field(s) sender_id")


def test_a_body_field_the_service_does_not_know_differs() -> None:
    schema = {"required": ["to"], "properties": {"to": {}, "text": {}}}
    doc = _document(
        {
            "/communication/sms": {
                "post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}
            }
        },
        [{"url": "/api"}],
    )

    assert _one(doc, "POST", endpoints.SMS) == (Status.DIFFERS, "has no body field(s) body")


def test_the_catalogue_knows_a_method_for_every_path() -> None:
    paths = {path for _, path in endpoints.OPERATIONS}

    assert paths == {path for section in endpoints.SECTIONS.values() for path in section}


def test_a_malformed_document_stops_the_check_with_one_line() -> None:
    doc = _document({"/agents": {"get": {"parameters": ["not an object", 3]}}}, ["not a server"])  # type: ignore[list-item]
    doc["paths"]["/agents"]["get"]["parameters"] = 7

    with pytest.raises(CheckAborted, match="malformed"):
        compare(doc, BASE, [("GET", endpoints.AGENTS)])
