"""Error mapping: each status becomes its typed error, whose text reads well and never dumps a body."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.exceptions import (
    VotelAuthError,
    VotelBadRequestError,
    VotelConfigurationError,
    VotelError,
    VotelInputError,
    VotelNotFoundError,
    VotelPaymentRequiredError,
    VotelPermissionError,
    VotelRateLimitError,
    VotelServerError,
    error_from_response,
    render_detail,
)
from votel_airflow.hooks.votel import VotelHook

from .conftest import API

CONTACT_URL = API + "/contacts/c-1"
VALIDATION_DETAIL = [
    {
        "loc": ["body", "contacts", 0, "phone"],
        "msg": "value is not a valid phone number",
        "type": "value_error",
    },
    {"loc": ["query", "limit"], "msg": "ensure this value is less than or equal to 500", "type": "le"},
]


def _error(
    status: int, body: bytes = b'{"detail": "nope"}', content_type: str = "application/json"
) -> VotelError:
    return error_from_response(
        status_code=status, content_type=content_type, body=body, method="GET", path="/contacts/c-1"
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, VotelBadRequestError),
        (401, VotelAuthError),
        (402, VotelPaymentRequiredError),
        (403, VotelPermissionError),
        (404, VotelNotFoundError),
        (409, VotelBadRequestError),
        (422, VotelBadRequestError),
        (429, VotelRateLimitError),
        (500, VotelServerError),
        (502, VotelServerError),
        (503, VotelServerError),
        (504, VotelServerError),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, cls: type[VotelError]) -> None:
    error = _error(status)
    assert type(error) is cls
    assert error.status_code == status
    assert error.detail == "nope"


def test_rate_limit_error_carries_retry_after() -> None:
    error = error_from_response(
        status_code=429, content_type="application/json", body=b'{"detail": "slow down"}',
        method="GET", path="/agents", retry_after=12.0,
    )  # fmt: skip
    assert isinstance(error, VotelRateLimitError)
    assert error.retry_after == 12.0


@pytest.mark.usefixtures("votel_conn")
def test_error_text_reads_status_method_path_and_detail(requests_mock: Any) -> None:
    requests_mock.get(CONTACT_URL, status_code=404, json={"detail": "Lead not found"})

    with pytest.raises(VotelNotFoundError) as info:
        VotelHook().get(endpoints.path(endpoints.CONTACT, contact_id="c-1"))

    assert str(info.value) == "404 Not Found on GET /contacts/c-1: Lead not found"
    assert (info.value.method, info.value.path, info.value.detail) == (
        "GET",
        "/contacts/c-1",
        "Lead not found",
    )


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (400, "400 Bad Request on GET /contacts/c-1: nope"),
        (401, "401 Unauthorized on GET /contacts/c-1: nope"),
        (402, "402 Payment Required on GET /contacts/c-1: nope"),
        (403, "403 Forbidden on GET /contacts/c-1: nope"),
        (409, "409 Conflict on GET /contacts/c-1: nope"),
        (429, "429 Too Many Requests on GET /contacts/c-1: nope"),
        (500, "500 Internal Server Error on GET /contacts/c-1: nope"),
    ],
)
def test_every_error_text_has_the_same_shape(status: int, text: str) -> None:
    assert str(_error(status)) == text


@pytest.mark.usefixtures("votel_conn")
def test_validation_error_list_is_rendered_as_field_message_pairs(requests_mock: Any) -> None:
    requests_mock.post(API + "/contacts/imports", status_code=422, json={"detail": VALIDATION_DETAIL})

    with pytest.raises(VotelBadRequestError) as info:
        VotelHook().request("POST", endpoints.CONTACT_IMPORTS, json={"contacts": []})

    # The reason phrase of 422 changed in Python 3.13 ("Entity" -> "Content"); the rest is ours.
    assert str(info.value).startswith("422 Unprocessable ")
    assert str(info.value).endswith(
        " on POST /contacts/imports: contacts.0.phone: value is not a valid phone number; "
        "limit: ensure this value is less than or equal to 500"
    )
    assert info.value.detail == VALIDATION_DETAIL


def test_detail_that_is_neither_string_nor_list_is_rendered_as_json() -> None:
    assert render_detail({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'


@pytest.mark.usefixtures("votel_conn")
def test_html_502_is_reported_by_status_and_content_type_without_its_body(
    requests_mock: Any, sleeps: list[float]
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1><p>nginx internal-upstream-10.0.0.7</p></body></html>"
    requests_mock.get(API + "/agents", status_code=502, content=page, headers={"Content-Type": "text/html"})

    with pytest.raises(VotelServerError) as info:
        VotelHook(max_retries=1).get(endpoints.AGENTS)

    text = str(info.value)
    assert text == f"502 Bad Gateway on GET /agents: non-JSON answer (text/html, {len(page)} bytes)"
    assert "nginx" not in text
    assert "<html" not in text
    assert info.value.detail is None


def test_json_error_without_detail_says_so_rather_than_non_json() -> None:
    error = _error(500, body=b'{"error": "x"}')
    assert "answer without a detail (application/json" in str(error)


@pytest.mark.usefixtures("votel_conn")
def test_html_200_from_a_base_url_missing_api_is_a_clear_server_error(requests_mock: Any) -> None:
    requests_mock.get(
        API + "/agents", status_code=200, text="<!doctype html><title>Votel</title>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )  # fmt: skip

    with pytest.raises(
        VotelServerError, match=r"200 OK on GET /agents: non-JSON answer \(text/html, 35 bytes\)"
    ):
        VotelHook().get(endpoints.AGENTS)

    with pytest.raises(VotelServerError, match="Base URL ends in /api"):
        VotelHook().get(endpoints.AGENTS)


@pytest.mark.usefixtures("votel_conn")
def test_malformed_json_success_is_a_server_error(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", text="[{", headers={"Content-Type": "application/json"})

    with pytest.raises(VotelServerError, match="malformed JSON"):
        VotelHook().get(endpoints.AGENTS)


@pytest.mark.usefixtures("votel_conn")
def test_empty_success_body_returns_none(requests_mock: Any) -> None:
    requests_mock.delete(CONTACT_URL, status_code=204)

    assert VotelHook().request("DELETE", "/contacts/c-1") is None


@pytest.mark.usefixtures("votel_conn")
def test_route_miss_404_hints_at_the_base_url(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", status_code=404, json={"detail": "Not Found"})

    with pytest.raises(VotelNotFoundError) as info:
        VotelHook().get(endpoints.AGENTS)

    assert f"no such path under {API}: check the connection's Base URL" in str(info.value)


def test_object_404_does_not_hint_at_the_base_url() -> None:
    assert "Base URL" not in str(_error(404, body=b'{"detail": "Lead not found"}'))


ALL_ERRORS: list[VotelError] = [
    VotelError("x", status_code=418, detail="teapot", method="GET", path="/agents"),
    VotelBadRequestError("x", status_code=422, detail=VALIDATION_DETAIL, method="POST", path="/contacts"),
    VotelAuthError("x", status_code=401, detail="Invalid API key", method="GET", path="/agents"),
    VotelPaymentRequiredError(
        "x", status_code=402, detail="wallet", method="POST", path="/communication/sms"
    ),
    VotelPermissionError("x", status_code=403, detail="upgrade", method="GET", path="/settings/users"),
    VotelNotFoundError("x", status_code=404, detail="Lead not found", method="GET", path="/contacts/c-1"),
    VotelRateLimitError("x", retry_after=3.0, status_code=429, detail="slow", method="GET", path="/agents"),
    VotelServerError("x", status_code=502, method="GET", path="/agents"),
    VotelConfigurationError("bad connection"),
]


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_a_pickle_round_trip(error: VotelError) -> None:
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert (copy.status_code, copy.detail, copy.method, copy.path) == (
        error.status_code, error.detail, error.method, error.path,
    )  # fmt: skip
    assert getattr(copy, "retry_after", None) == getattr(error, "retry_after", None)


def test_input_error_keeps_its_field_through_pickle() -> None:
    copy = pickle.loads(pickle.dumps(VotelInputError("to='x': bad", field="to")))
    assert copy.field == "to"
    assert str(copy) == "to='x': bad"


def test_configuration_and_input_errors_fail_the_task_without_retries() -> None:
    from votel_airflow.compat import AirflowFailException

    assert issubclass(VotelConfigurationError, AirflowFailException)
    assert issubclass(VotelInputError, AirflowFailException)
    assert not issubclass(VotelServerError, AirflowFailException)
