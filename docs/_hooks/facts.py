"""MkDocs hook: keep the pages true to the code by taking facts from it at build time.

Markers in the Markdown are replaced while the site builds:

- ``<!-- votel:fact module:attribute -->``: the value of a constant (``module:Class.attr`` too),
  e.g. the retryable statuses.
- ``<!-- votel:argparse module:function -->``: the ``--help`` of the parser the function builds.
- ``<!-- votel:backoff-table -->``: the backoff of the default retry policy, retry by retry.
- ``<!-- votel:openapi-table -->``: every operation of ``docs/sandbox-openapi.json``.

And the error table of ``reference/errors.md`` is checked against
``votel_airflow.exceptions``: a status mapped to another class, or a public exception class
missing from the page, fails the build with a message saying what to fix.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from typing import Any

from mkdocs.exceptions import PluginError

_MARKER = re.compile(r"<!--\s*votel:(fact|argparse)\s+([\w.]+):([\w.]+)\s*-->")
_BACKOFF_TABLE = "<!-- votel:backoff-table -->"
_OPENAPI_TABLE = "<!-- votel:openapi-table -->"
OPENAPI_DOCUMENT = "sandbox-openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")
_ERROR_ROW = re.compile(r"^\|\s*(\d{3})\s*\|\s*`(\w+)`\s*\|", re.MULTILINE)
ERRORS_PAGE = "reference/errors.md"


def _lookup(module: str, name: str) -> Any:
    try:
        value: Any = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
        return value
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"docs marker names {module}:{name}, which does not exist: {exc}") from exc


def _render_fact(value: Any) -> str:
    if isinstance(value, (set, frozenset, list, tuple)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return ", ".join(f"`{item}`" for item in items)
    return f"`{value}`"


def _render_help(build_parser: Any) -> str:
    # argparse wraps to the terminal width; a fixed width keeps the page identical on every machine.
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        text = build_parser().format_help()
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return f"```text\n{text.rstrip()}\n```"


def _replace(match: re.Match[str]) -> str:
    kind, module, name = match.groups()
    value = _lookup(module, name)
    return _render_fact(value) if kind == "fact" else _render_help(value)


def backoff_table() -> str:
    """The default policy's equal-jitter backoff for each retry, as a Markdown table."""
    policy = importlib.import_module("votel_airflow.hooks.retry").RetryPolicy()
    rows = ["| retry | ceiling | wait drawn from |", "| --- | --- | --- |"]
    for retry in range(1, policy.max_retries + 1):
        ceiling = min(policy.backoff_max, policy.backoff_base * 2.0 ** (retry - 1))
        rows.append(f"| {retry} | {ceiling:g} s | {ceiling / 2:g} to {ceiling:g} s |")
    return "\n".join(rows)


def openapi_table(docs_dir: str) -> str:
    """Method, path and summary of every operation in the sandbox's exported OpenAPI document."""
    path = os.path.join(docs_dir, OPENAPI_DOCUMENT)
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise PluginError(f"cannot read {path} for the OpenAPI table: {exc}") from exc
    rows = ["| method | path | summary |", "| --- | --- | --- |"]
    for route, operations in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            if method in operations:
                summary = operations[method].get("summary", "")
                rows.append(f"| {method.upper()} | `{route}` | {summary} |")
    return "\n".join(rows)


def check_error_table(markdown: str) -> None:
    """Fail when the page's status → exception rows disagree with the code, or miss a class."""
    exceptions = importlib.import_module("votel_airflow.exceptions")
    by_status: dict[int, type] = exceptions._ERROR_BY_STATUS
    problems = []
    for status, name in _ERROR_ROW.findall(markdown):
        expected = by_status.get(int(status))
        if expected is None and int(status) >= 500:
            expected = exceptions.VotelServerError
        if expected is not None and expected.__name__ != name:
            problems.append(f"status {status} raises {expected.__name__}, the page says {name}")
    for name in exceptions.__all__:
        obj = getattr(exceptions, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and f"`{name}`" not in markdown:
            problems.append(f"{name} is public but not on the page")
    if problems:
        raise PluginError(f"{ERRORS_PAGE} disagrees with votel_airflow/exceptions.py: " + "; ".join(problems))


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    if page.file.src_uri == ERRORS_PAGE:
        check_error_table(markdown)
    if _OPENAPI_TABLE in markdown:
        markdown = markdown.replace(_OPENAPI_TABLE, openapi_table(config["docs_dir"]))
    if _BACKOFF_TABLE in markdown:
        markdown = markdown.replace(_BACKOFF_TABLE, backoff_table())
    return _MARKER.sub(_replace, markdown)
