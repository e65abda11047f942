"""The sandbox's OpenAPI document, as served at ``/api/openapi.json`` and kept in ``docs/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from votel_airflow.sandbox.app import build_api


def openapi_document() -> dict[str, Any]:
    """The document, built without starting a server or opening a database."""
    return build_api(None).openapi()


def render(document: dict[str, Any]) -> str:
    """The committed text form: sorted keys, two-space indent, final newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def export_openapi(path: str | Path) -> Path:
    """Write the document to ``path`` and return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(openapi_document()), encoding="utf-8")
    return target
