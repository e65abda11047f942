"""Pagination: limit/offset pages, lazily, ending on a short page, never holding two pages."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from votel_airflow import endpoints
from votel_airflow.exceptions import VotelServerError
from votel_airflow.hooks.votel import VotelHook

from .conftest import API

pytestmark = pytest.mark.usefixtures("votel_conn")

URL = API + endpoints.CONTACTS


def _serve(requests_mock: Any, total: int, on_request: Any = None) -> None:
    """Answer ``GET /contacts`` like the API: ``total`` records, sliced by limit/offset."""

    def answer(request: Any, context: Any) -> list[dict[str, Any]]:
        limit = int(request.qs["limit"][0])
        offset = int(request.qs["offset"][0])
        if on_request is not None:
            on_request(offset // limit)
        # "tags" is a list so that CPython's gc tracks every record dict (see the memory test).
        return [
            {"id": f"c-{i}", "page": offset // limit, "tags": ["vip"]}
            for i in range(offset, min(offset + limit, total))
        ]

    requests_mock.get(URL, json=answer)


def _offsets(requests_mock: Any) -> list[tuple[int, int]]:
    return [(int(r.qs["limit"][0]), int(r.qs["offset"][0])) for r in requests_mock.request_history]


def test_stops_on_a_short_page_with_the_exact_limit_offset_sequence(requests_mock: Any) -> None:
    _serve(requests_mock, total=25)

    ids = [record["id"] for record in VotelHook().paginate(endpoints.CONTACTS, page_size=10)]

    assert ids == [f"c-{i}" for i in range(25)]
    assert _offsets(requests_mock) == [(10, 0), (10, 10), (10, 20)]


def test_an_exact_multiple_ends_on_the_empty_page(requests_mock: Any) -> None:
    _serve(requests_mock, total=20)

    assert len(list(VotelHook().paginate(endpoints.CONTACTS, page_size=10))) == 20
    assert _offsets(requests_mock) == [(10, 0), (10, 10), (10, 20)]


def test_filters_are_sent_with_every_page_and_none_dropped(requests_mock: Any) -> None:
    _serve(requests_mock, total=3)

    list(VotelHook().paginate(endpoints.CONTACTS, params={"tag": "vip", "search": None}, page_size=2))

    assert [r.qs for r in requests_mock.request_history] == [
        {"tag": ["vip"], "limit": ["2"], "offset": ["0"]},
        {"tag": ["vip"], "limit": ["2"], "offset": ["2"]},
    ]


def test_is_lazy_consuming_the_first_record_makes_one_request(requests_mock: Any) -> None:
    _serve(requests_mock, total=1000)

    records = VotelHook().paginate(endpoints.CONTACTS, page_size=100)
    assert requests_mock.call_count == 0
    assert next(records)["id"] == "c-0"
    assert requests_mock.call_count == 1


def test_default_page_size_is_the_api_maximum(requests_mock: Any) -> None:
    _serve(requests_mock, total=1)

    list(VotelHook().paginate(endpoints.CONTACTS))

    assert _offsets(requests_mock) == [(500, 0)]


@pytest.mark.parametrize("page_size", [0, -1, 501])
def test_page_size_out_of_bounds_is_refused(requests_mock: Any, page_size: int) -> None:
    with pytest.raises(ValueError, match="page_size must be between 1 and 500"):
        list(VotelHook().paginate(endpoints.CONTACTS, page_size=page_size))
    assert requests_mock.call_count == 0


def test_a_non_list_answer_is_a_clear_error(requests_mock: Any) -> None:
    requests_mock.get(URL, json={"items": []})

    with pytest.raises(VotelServerError, match="answered dict, expected a JSON array"):
        list(VotelHook().paginate(endpoints.CONTACTS))


def test_iter_pages_yields_whole_pages(requests_mock: Any) -> None:
    _serve(requests_mock, total=5)

    assert [len(page) for page in VotelHook().iter_pages(endpoints.CONTACTS, page_size=2)] == [2, 2, 1]


def test_never_holds_two_pages(requests_mock: Any) -> None:
    """While page N+1 is being fetched, no more than one record of page N is alive.

    That one is the consumer's loop variable. Before the fix, ``paginate`` kept page N bound while
    requesting page N+1, so all its records were alive: this test counted ``page_size`` of them.
    """
    page_size = 50
    alive_counts: dict[int, int] = {}

    def count_previous_page(page: int) -> None:
        if page == 0:
            return
        gc.collect()
        alive_counts[page - 1] = sum(
            1
            for obj in gc.get_objects()
            # type() rather than isinstance(): some gc-tracked proxies (dill's) raise on __class__.
            if type(obj) is dict and obj.get("page") == page - 1 and obj.get("tags") == ["vip"]
        )

    _serve(requests_mock, total=page_size * 4 + 7, on_request=count_previous_page)

    seen = 0
    for record in VotelHook().paginate(endpoints.CONTACTS, page_size=page_size):
        seen += 1
        assert record["id"] == f"c-{seen - 1}"

    assert seen == page_size * 4 + 7
    assert alive_counts == {0: 1, 1: 1, 2: 1, 3: 1}
