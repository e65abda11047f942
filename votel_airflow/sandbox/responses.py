"""How the sandbox answers: compact JSON, raw-text lists on hot paths, ``detail`` errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from votel_airflow.sandbox.store import dumps

JSON = "application/json"


class Json(JSONResponse):
    """JSON rendered as ASCII: any string a client sent, even a lone surrogate, echoes safely."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def raw_list(docs: Iterable[str]) -> Response:
    """A JSON array built from stored JSON texts, without parsing them again."""
    return Response("[" + ",".join(docs) + "]", media_type=JSON)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without its private ``_`` fields."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def error(status: int, detail: str) -> HTTPException:
    """An ``HTTPException`` answered as ``{"detail": detail}``."""
    return HTTPException(status_code=status, detail=detail)


def invalid(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 shaped like FastAPI's own validation errors."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": kind}])


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return Json({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {key: value for key, value in err.items() if key in ("loc", "msg", "type", "input", "ctx")}
        for err in exc.errors()
    ]
    return Json({"detail": _jsonable(detail)}, status_code=422)


async def unencodable_handler(request: Request, exc: Exception) -> Response:
    """Text SQLite cannot store (a lone surrogate) or a number it cannot hold is a bad input."""
    detail = [{"loc": ["body"], "msg": f"Unprocessable value: {exc}", "type": "value_error"}]
    return Json({"detail": detail}, status_code=422)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
