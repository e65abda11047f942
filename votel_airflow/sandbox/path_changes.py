"""Rename or remove API paths of a running sandbox, so a test can play a service whose paths
differ from the contract: both the served routes and the OpenAPI document change, as they would
on a real service that moved a path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The CLI parses the options before it knows the server's modules are installed.
    from fastapi import FastAPI


def parse_rename(option: str) -> tuple[str, str]:
    """``OLD=NEW`` (two paths, relative to ``/api``) as a pair; ``ValueError`` when malformed."""
    old, sep, new = option.partition("=")
    if not sep or not old.startswith("/") or not new.startswith("/"):
        raise ValueError(f"--rename-path wants OLD=NEW, two paths starting with '/', got {option!r}")
    return old, new


def change_paths(api: FastAPI, renamed: Mapping[str, str], removed: Iterable[str]) -> None:
    """Serve each ``renamed`` path (every method of it) under its new path, and drop ``removed``.

    Call before the first request: FastAPI builds its OpenAPI document once, from the routes.

    :param api: the API app (paths relative to ``/api``).
    :param renamed: ``{old path template: new path template}``.
    :param removed: path templates to serve no longer.
    """
    from fastapi.routing import APIRoute
    from starlette.routing import compile_path

    gone = set(removed)
    routes = [r for r in api.router.routes if isinstance(r, APIRoute)]
    unknown = (set(renamed) | gone) - {route.path for route in routes}
    if unknown:
        raise ValueError(f"the sandbox serves no path {sorted(unknown)}")
    for old, new in renamed.items():
        if sorted(compile_path(old)[2]) != sorted(compile_path(new)[2]):
            raise ValueError(f"renaming {old} to {new} must keep its path parameters")
    for route in routes:
        if route.path in gone:
            api.router.routes.remove(route)
        elif route.path in renamed:
            route.path = renamed[route.path]
            route.path_regex, route.path_format, route.param_convertors = compile_path(route.path)
    api.openapi_schema = None
