"""Old module paths kept importable for one release, each name warning where it lives now.

Users import from a module path the docs or the changelog named; when that module moves, the old
path stays as a tiny alias whose module ``__getattr__`` calls :func:`forward`, so existing DAG
files keep working and learn the new path from the warning.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any


def forward(old: str, new: ModuleType, name: str) -> Any:
    """``new.name``, with a :class:`DeprecationWarning` naming where to import it from.

    :param old: the deprecated module's dotted path.
    :param new: the module that holds the name now.
    :param name: the attribute asked for.
    """
    try:
        value = getattr(new, name)
    except AttributeError:
        raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
    warnings.warn(
        f"{old} moved to {new.__name__}: import {name} from {new.__name__} "
        f"({old} is removed in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    return value
