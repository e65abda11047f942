"""Downloads (an export's ``download_url``): JSON lines streamed, the key sent only to the API's origin."""

from __future__ import annotations

from typing import Any

import pytest

from votel_airflow.exceptions import VotelNotFoundError, VotelServerError
from votel_airflow.hooks.votel import VotelHook

from .conftest import API, KEY

pytestmark = pytest.mark.usefixtures("votel_conn")

LINES = b'{"id": "c-1"}\n\n{"id": "c-2"}\n'


def test_lines_of_a_download_on_the_api_host_are_yielded_with_the_key(requests_mock: Any) -> None:
    requests_mock.get(API + "/contacts/exports/e-1/download", content=LINES)

    rows = list(VotelHook().stream_lines("/contacts/exports/e-1/download"))

    assert rows == [{"id": "c-1"}, {"id": "c-2"}]
    assert requests_mock.last_request.headers["X-API-Key"] == KEY


def test_a_third_party_download_gets_no_key(requests_mock: Any) -> None:
    requests_mock.get("https://files.example/e-1.jsonl?sig=abc", content=LINES)

    assert len(list(VotelHook().stream_lines("https://files.example/e-1.jsonl?sig=abc"))) == 2
    assert "X-API-Key" not in requests_mock.last_request.headers


def test_a_redirect_to_a_third_party_drops_the_key(requests_mock: Any) -> None:
    requests_mock.get(
        API + "/contacts/exports/e-1/download", status_code=302,
        headers={"Location": "https://bucket.example/e-1.jsonl?X-Amz-Signature=s"},
    )  # fmt: skip
    requests_mock.get("https://bucket.example/e-1.jsonl", content=LINES)

    assert len(list(VotelHook().stream_lines("/contacts/exports/e-1/download"))) == 2
    first, second = requests_mock.request_history
    assert first.headers["X-API-Key"] == KEY
    assert "X-API-Key" not in second.headers


def test_a_redirect_loop_is_cut(requests_mock: Any) -> None:
    requests_mock.get(API + "/loop", status_code=302, headers={"Location": API + "/loop"})

    with pytest.raises(VotelServerError, match="more than 5 redirects"):
        list(VotelHook().stream_lines("/loop"))
    assert requests_mock.call_count == 6


def test_a_failed_download_raises_the_typed_error(requests_mock: Any) -> None:
    requests_mock.get(
        API + "/contacts/exports/e-9/download", status_code=404, json={"detail": "Export not found"}
    )

    with pytest.raises(VotelNotFoundError, match="Export not found"):
        list(VotelHook().stream_lines("/contacts/exports/e-9/download"))
