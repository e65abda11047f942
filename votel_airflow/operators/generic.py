"""The escape hatch: call any method and path of the Votel API through the provider's request policy.

For the endpoints no dedicated operator covers, or a path newer than this provider. The call still
gets the auth header, retries, typed errors and, for a POST, an idempotency key tied to the task
instance, so a retried task does not repeat the side effect where the API honours the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from votel_airflow import endpoints
from votel_airflow.defaults import MAX_PAGE_SIZE
from votel_airflow.delivery.idempotency import idempotency_key
from votel_airflow.destinations import FORMATS, as_storage_path
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.stream_to_file import write_endpoint
from votel_airflow.validation import fail, is_template, is_unset, require_choice, require_int

METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
#: ``idempotency_key``'s default: derive a key from the task instance for a POST.
AUTO = "auto"


def fill_path(path: Any, path_params: Any) -> str:
    """The API path with its ``{placeholders}`` filled from ``path_params``, each percent-encoded."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail(
            "path", path, "must be a string starting with '/'", "Use a path such as '/contacts/{contact_id}'."
        )
    if "://" in path or "?" in path or "#" in path or any(ch.isspace() for ch in path):
        raise fail(
            "path",
            path,
            "must be a bare API path (no scheme, host, query, fragment or whitespace)",
            "Put the base URL in the connection and query parameters in query_params=.",
        )
    if path_params is not None and not isinstance(path_params, Mapping):
        raise fail("path_params", path_params, "must be a mapping", "Pass e.g. {'contact_id': 'c-1'}.")
    try:
        return endpoints.path(path, **dict(path_params or {}))
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        raise fail(
            "path_params", path_params, f"do not fill {path!r} ({exc})", "Give one value per placeholder."
        ) from None


class VotelApiOperator(VotelBaseOperator):
    """Call any Votel API method and path; return the JSON answer, or stream a list to a file.

    With ``paginate=True`` the (GET) list endpoint is read page by page into ``destination``,
    atomically, and the manifest ``{"uri", "records", "format", "path"}`` is returned. Without it
    the parsed answer is returned to XCom as is, so keep it to small answers (one page of a list
    endpoint at most: 50 records unless ``query_params`` sets ``limit``).

    :param path: API path relative to the connection's base URL, starting with '/'; may contain
        ``{placeholders}`` filled from ``path_params``. Templated.
    :param method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
    :param path_params: values of the path's placeholders, each percent-encoded so an id can never
        change the route. Templated.
    :param query_params: query parameters (None values dropped). Named so because ``params`` is
        Airflow's own operator argument (DAG params). Templated.
    :param json: request body. Templated.
    :param idempotency_key: the ``Idempotency-Key`` header. The default ``"auto"`` derives one from
        the task instance (dag, task, run, map index) and the path for a POST, so a retried task is
        answered with the first response instead of acting twice; ``None`` sends no key. Templated.
    :param paginate: read every page of a GET list endpoint into ``destination`` (``limit`` and
        ``offset`` are then managed here: any in ``query_params`` are ignored).
    :param destination: file for ``paginate=True``: an absolute local path or any
        ``ObjectStoragePath`` URL. Templated.
    :param format: file format with ``paginate``: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param page_size: records per request with ``paginate``, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = (
        "path",
        "path_params",
        "query_params",
        "json",
        "idempotency_key",
        "destination",
    )
    template_fields_renderers = {"json": "json", "query_params": "json", "path_params": "json"}
    ui_color = "#f2f2f2"

    def __init__(
        self,
        *,
        path: str,
        method: str = "GET",
        path_params: Mapping[str, Any] | None = None,
        query_params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = AUTO,
        paginate: bool = False,
        destination: Any = None,
        format: str = "jsonl",
        page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.method = require_choice("method", method.upper() if isinstance(method, str) else method, METHODS)
        self.path_params = path_params
        self.query_params = query_params
        self.json = json
        self.idempotency_key = idempotency_key
        self.paginate = paginate
        self.destination = destination
        self.format = require_choice("format", format, FORMATS)
        self.page_size = require_int("page_size", page_size, low=1, high=MAX_PAGE_SIZE)
        if paginate and self.method != "GET":
            raise fail(
                "paginate", paginate, f"needs method='GET', not {self.method!r}", "Paginate list reads only."
            )
        if paginate and destination is None:
            raise fail(
                "destination", destination, "is required with paginate=True", "Give the file to write."
            )
        if not paginate and destination is not None:
            raise fail("destination", destination, "is only used with paginate=True", "Set paginate=True.")
        if self.method == "GET" and json is not None:
            raise fail(
                "json", json, "cannot be sent with GET", "Use query_params= for a GET, or another method."
            )
        if not is_template(path) and not (isinstance(path_params, Mapping) and _any_template(path_params)):
            fill_path(path, path_params)
        if destination is not None and not is_template(destination):
            as_storage_path("destination", destination)

    def resolve_idempotency_key(self, context: Any, path: str) -> str | None:
        """The key to send: the given one, the task instance's for a POST with ``"auto"``, or None."""
        key = self.idempotency_key
        if is_unset(key):
            return None
        if key == AUTO:
            return idempotency_key(context, self.method, path) if self.method == "POST" else None
        if not isinstance(key, str) or len(key) > 255:
            raise fail("idempotency_key", key, "must be a string of at most 255 characters", "Shorten it.")
        return key

    def execute(self, context: Any) -> Any:
        path = fill_path(self.path, self.path_params)
        if self.query_params is not None and not isinstance(self.query_params, Mapping):
            raise fail("query_params", self.query_params, "must be a mapping", "Pass e.g. {'tag': 'vip'}.")
        if self.paginate:
            return self._stream(path)
        key = self.resolve_idempotency_key(context, path)
        self.log.info("Votel %s %s%s", self.method, path, " (idempotent)" if key else "")
        return self.hook.request(
            self.method, path, params=self.query_params, json=self.json, idempotency_key=key
        )

    def _stream(self, path: str) -> dict[str, Any]:
        destination = as_storage_path("destination", self.destination)
        params = {k: v for k, v in (self.query_params or {}).items() if k not in ("limit", "offset")}
        written = write_endpoint(
            self.hook, path, destination, self.format, params=params, page_size=self.page_size
        )
        self.log.info("Wrote %d records of GET %s to %s", written.records, path, destination)
        return written.manifest(format=self.format, path=path)


def _any_template(values: Mapping[str, Any]) -> bool:
    return any(is_template(value) for value in values.values())
