"""Name an agent, workflow, calendar or campaign instead of giving its id.

Ids differ between Votel accounts (staging and production) and say nothing in a DAG file; names
are what people see in the app. An operator takes exactly one of ``<kind>_id`` and
``<kind>_name`` (:func:`require_one`, when it is built), and resolves a name when it runs
(:func:`resolve`), before it sends anything: the name must match exactly one object, or the task
fails naming what exists, or the ids that share the name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from votel_airflow import endpoints
from votel_airflow.validation import fail, is_unset, require_id

#: The list endpoint holding each kind of named object.
LISTS = {
    "agent": endpoints.AGENTS,
    "workflow": endpoints.WORKFLOWS,
    "calendar": endpoints.CALENDARS,
    "campaign": endpoints.CAMPAIGNS,
}
#: How many existing names a "no such name" error lists.
NAMES_SHOWN = 30


class Lister(Protocol):
    """What naming needs of a hook (:class:`~votel_airflow.hooks.votel.VotelHook` has it).

    Typed here, not imported: the hook's verbs call :func:`find`, so importing the hook back
    would close a circle of imports.
    """

    @property
    def log(self) -> Any: ...

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint."""
        ...  # pragma: no cover


def require_one(kind: str, object_id: Any, name: Any) -> None:
    """Fail unless exactly one of ``<kind>_id`` and ``<kind>_name`` is given (at construction).

    :param kind: ``agent``, ``workflow``, ``calendar`` or ``campaign``.
    :param object_id: the ``<kind>_id`` argument.
    :param name: the ``<kind>_name`` argument.
    """
    if (object_id is None) == (name is None):
        raise fail(
            f"{kind}_id",
            object_id,
            f"give exactly one of {kind}_id or {kind}_name (got {'both' if name is not None else 'neither'})",
            f"Pass {kind}_id='...' (the id in Votel) or {kind}_name='...' (its name as the app shows it).",
        )


def resolve(hook: Lister, kind: str, object_id: Any, name: Any) -> str:
    """The id to use: ``object_id`` as given, or the id of the one object called ``name``.

    Reads the list of that kind of object (a GET, nothing is sent); a name that matches none or
    several fails with :class:`~votel_airflow.exceptions.VotelInputError` naming the existing
    names or the clashing ids.

    :param hook: the operator's hook.
    :param kind: ``agent``, ``workflow``, ``calendar`` or ``campaign``.
    :param object_id: the rendered ``<kind>_id``, or None.
    :param name: the rendered ``<kind>_name``, or None.
    """
    if not is_unset(object_id) and not is_unset(name):
        require_one(kind, object_id, name)
    if is_unset(name) and object_id is not None:
        # Given but empty (a template that rendered nothing) fails here, naming the id field.
        return require_id(f"{kind}_id", object_id)
    if is_unset(name):
        require_one(kind, None, None)
    return str(find(hook, kind, name)["id"])


def find(hook: Lister, kind: str, name: Any) -> dict[str, Any]:
    """The one object of ``kind`` called ``name``; none or several fail naming what exists or the
    clashing ids (:class:`~votel_airflow.exceptions.VotelInputError`, before anything is sent).

    :param hook: a hook of the account.
    :param kind: ``agent``, ``workflow``, ``calendar`` or ``campaign``.
    :param name: the name as the app shows it (exact match, outer spaces ignored).
    """
    if not isinstance(name, str) or not name.strip():
        problem = "must be a string" if not isinstance(name, str) else "is empty"
        raise fail(f"{kind}_name", name, problem, f"Pass the {kind}'s name as the app shows it.")
    wanted = name.strip()
    objects = list(hook.paginate(LISTS[kind]))
    matches = sorted(
        (obj for obj in objects if obj.get("name") == wanted), key=lambda obj: str(obj.get("id"))
    )
    ids = [str(obj.get("id")) for obj in matches]
    if len(ids) == 1:
        hook.log.info("%s %r is %s", kind.capitalize(), wanted, ids[0])
        return dict(matches[0])
    if ids:
        raise fail(
            f"{kind}_name",
            wanted,
            f"matches {len(ids)} {kind}s: ids {ids}",
            f"Rename them in Votel so the name is unique, or pass {kind}_id= to pick one.",
        )
    names = sorted({str(obj.get("name")) for obj in objects})
    shown = names[:NAMES_SHOWN] + (["..."] if len(names) > NAMES_SHOWN else [])
    raise fail(
        f"{kind}_name",
        wanted,
        f"matches no {kind}; the {kind}s are {shown}" if names else f"matches no {kind}: there is none",
        "Names match exactly (case and spaces included); or pass the id instead.",
    )
