"""Document mode: find the service's own OpenAPI document and compare the catalogue with it.

Nothing of the API is called: the document says which paths and methods exist and which query
parameters and body fields they require. Placeholder names do not matter (``/contacts/{id}``
matches ``/contacts/{contact_id}``); paths are read relative to the base URL, whether the
document lists them under a ``servers`` entry (``/api``) or with the prefix written out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from votel_airflow.check_api.results import CheckAborted, EndpointResult, Status
from votel_airflow.endpoints import OPERATIONS
from votel_airflow.exceptions import VotelError

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

DOCUMENT_PATH = "/openapi.json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def find_document(hook: VotelHook) -> tuple[str, dict[str, Any]] | None:
    """``(url, document)`` from ``{base}/openapi.json``, else the origin's; None when neither has one.

    :class:`CheckAborted` when the service does not answer at all: probing would not either.
    """
    base = hook.settings.base_url
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    places: list[tuple[str, Callable[[str], Any]]] = [(base, hook.get)]
    if origin != base:
        places.append((origin, hook.get_at_origin))
    for root, fetch in places:
        try:
            document = fetch(DOCUMENT_PATH)
        except VotelError as exc:
            if exc.status_code is None:
                raise CheckAborted(f"no answer from {base}: {exc}") from None
            continue  # a 404, an HTML page, a refusal: no document here
        if isinstance(document, dict) and isinstance(document.get("paths"), dict):
            return root + DOCUMENT_PATH, document
    return None


def shape(path: str) -> str:
    """A path template with its placeholder names erased: ``/contacts/{}``."""
    return _PLACEHOLDER.sub("{}", path.rstrip("/") or "/")


def served_operations(document: dict[str, Any], base_url: str) -> dict[str, dict[str, Any]]:
    """``{shape of path relative to base_url: path item}`` of the document."""
    base_path = urlsplit(base_url).path.rstrip("/")
    servers = document.get("servers")
    first = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {}
    server_path = urlsplit(str(first.get("url", ""))).path.rstrip("/")
    found: dict[str, dict[str, Any]] = {}
    for path, item in document["paths"].items():
        full = server_path + path
        relative = full[len(base_path) :] if base_path and full.startswith(base_path + "/") else path
        if isinstance(item, dict):
            found[shape(relative)] = item
    return found


def compare(
    document: dict[str, Any], base_url: str, operations: Iterable[tuple[str, str]]
) -> list[EndpointResult]:
    """The verdict on each catalogue operation according to ``document``.

    :param document: the service's OpenAPI document.
    :param base_url: the connection's base URL (its path is the API's prefix).
    :param operations: ``(method, path template)`` pairs of the catalogue.
    """
    served = served_operations(document, base_url)
    try:
        return [_judge(document, served, method, path) for method, path in operations]
    except (AttributeError, TypeError, ValueError) as exc:
        # A document this far from OpenAPI says nothing reliable about the paths.
        raise CheckAborted(f"the service's OpenAPI document is malformed ({type(exc).__name__})") from None


def _judge(
    document: dict[str, Any], served: dict[str, dict[str, Any]], method: str, path: str
) -> EndpointResult:
    item = served.get(shape(path))
    if item is None:
        return EndpointResult(method, path, Status.MISSING, "no such path in the service's document")
    operation = item.get(method.lower())
    if not isinstance(operation, dict):
        has = sorted(m.upper() for m in item if m in HTTP_METHODS)
        return EndpointResult(method, path, Status.DIFFERS, f"the path exists, but only for {', '.join(has)}")
    problems = []
    parameters = [
        _resolve(document, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    ]
    required_query = sorted(
        p.get("name", "?") for p in parameters if p.get("in") == "query" and p.get("required")
    )
    if required_query:
        problems.append(f"requires query parameter(s) {', '.join(required_query)}")
    problems += _body_problems(document, operation, OPERATIONS[(method, path)])
    if problems:
        return EndpointResult(method, path, Status.DIFFERS, "; ".join(problems))
    return EndpointResult(method, path, Status.OK)


def _body_problems(document: dict[str, Any], operation: dict[str, Any], ours: tuple[str, ...]) -> list[str]:
    body = _resolve(document, operation.get("requestBody") or {})
    content = body.get("content") or {}
    media: Any = content.get("application/json") or next(iter(content.values()), {})
    schema = _resolve(document, (media or {}).get("schema") or {})
    if not schema:
        return [f"takes no JSON body, but the provider sends {', '.join(ours)}"] if ours else []
    if "anyOf" in schema or "oneOf" in schema:
        return []  # alternatives: which fields are required depends on the branch, not judged here
    required, properties = set(schema.get("required", [])), dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        part = _resolve(document, part)
        required |= set(part.get("required", []))
        properties.update(part.get("properties", {}))
    problems = []
    extra = sorted(required - set(ours))
    if extra:
        problems.append(f"requires body field(s) {', '.join(extra)}")
    unknown = sorted(set(ours) - set(properties)) if properties else []
    if unknown:
        problems.append(f"has no body field(s) {', '.join(unknown)}")
    return problems


def _resolve(document: dict[str, Any], node: Any) -> dict[str, Any]:
    """``node`` with a local ``$ref`` (``#/components/...``) followed; {} when unreadable."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
        seen += 1
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node if isinstance(node, dict) else {}
