"""The three extraction variants, each run alone in a fresh child process (see ``child.py``).

- ``ours``: ``CallLogExtractOperator(...).execute(context)`` writing ``jsonl.gz``;
- ``http_operator``: the http provider's ``HttpOperator`` with a ``pagination_function``, its
  ``response_filter`` writing the same ``jsonl.gz`` from the list of every page it holds;
- ``floor``: a plain ``requests`` loop that fetches and parses each page, then drops it (parsing
  is needed to see the short last page). Nothing can extract faster than the server serves.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

CALL_LOGS_PATH = "/activity/call-logs"


def extract_operator_class() -> tuple[type[Any], str]:
    """``CallLogExtractOperator`` when it exists; else the same thing built on the shared base."""
    try:
        from votel_airflow.operators.activity import CallLogExtractOperator
    except ImportError:
        from votel_airflow import endpoints
        from votel_airflow.operators.extract import VotelExtractOperator

        class _CallLogs(VotelExtractOperator):
            endpoint = endpoints.CALL_LOGS
            filter_names = frozenset({"agent_id", "status"})

        return _CallLogs, "VotelExtractOperator(endpoint=CALL_LOGS) [CallLogExtractOperator not yet present]"
    return CallLogExtractOperator, "CallLogExtractOperator"


def prepare_ours() -> None:
    extract_operator_class()
    # What the hook and the writer import on first use, as the other variants' imports happen
    # here too: the timed window is the extraction, not module loading.
    import isal.igzip  # noqa: F401
    import requests  # noqa: F401


def ours(since: str, until: str, destination: str, page_size: int) -> dict[str, Any]:
    """Our operator, straight ``execute()``; the connection comes from AIRFLOW_CONN_VOTEL_DEFAULT."""
    from benchmarks.common import make_context

    cls, label = extract_operator_class()
    op = cls(task_id="extract", destination=destination, format="jsonl.gz", page_size=page_size)
    context = make_context(since, until)
    started = time.perf_counter()
    manifest = op.execute(context)
    seconds = time.perf_counter() - started
    return {"rows": manifest["records"], "seconds": seconds, "operator": label}


def prepare_http_operator() -> None:
    from airflow.providers.http.operators.http import HttpOperator  # noqa: F401


def http_operator(since: str, until: str, destination: str, page_size: int, api_key: str) -> dict[str, Any]:
    """What a user writes with the http provider: paginate, then filter the list of responses."""
    from airflow.providers.http.operators.http import HttpOperator

    from benchmarks.common import make_context

    def next_page(response: Any) -> dict[str, Any] | None:
        page = response.json()
        if len(page) < page_size:
            return None
        offset = int(parse_qs(urlsplit(response.request.url).query)["offset"][0])
        return {"data": {"offset": offset + len(page)}}

    def write_all(responses: list[Any]) -> dict[str, Any]:
        rows = 0
        with gzip.open(destination, "wb") as out:
            for response in responses:
                page = response.json()
                rows += len(page)
                out.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in page).encode())
        return {"records": rows}

    op = HttpOperator(
        task_id="extract_http",
        http_conn_id="votel_http",
        method="GET",
        endpoint="/api" + CALL_LOGS_PATH,
        data={"since": since, "until": until, "limit": page_size, "offset": 0},
        headers={"X-API-Key": api_key, "Accept": "application/json"},
        pagination_function=next_page,
        response_filter=write_all,
    )
    started = time.perf_counter()
    context: Any = make_context(since, until)
    result = op.execute(context)
    seconds = time.perf_counter() - started
    return {"rows": result["records"], "seconds": seconds, "operator": "HttpOperator"}


def prepare_floor() -> None:
    import requests  # noqa: F401


def floor(base_url: str, api_key: str, since: str, until: str, page_size: int) -> dict[str, Any]:
    """Fetch every page with one requests session, parse it, and drop it."""
    import requests

    session = requests.Session()
    headers = {"X-API-Key": api_key, "Accept": "application/json"}
    url = base_url + CALL_LOGS_PATH
    rows = 0
    started = time.perf_counter()
    while True:
        params: dict[str, str | int] = {"since": since, "until": until, "limit": page_size, "offset": rows}
        response = session.get(url, params=params, headers=headers, timeout=60)
        response.raise_for_status()
        count = len(response.json())
        rows += count
        if count < page_size:
            break
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "operator": "requests loop (fetch+parse, discard)"}
