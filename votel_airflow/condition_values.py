"""Deprecated: :class:`Fetch` and :class:`Verdict` live in :mod:`votel_airflow.conditions.values`.

Kept importable under this name for one release.
"""

from __future__ import annotations

from votel_airflow.conditions.values import Fetch, Verdict

__all__ = ["Fetch", "Verdict"]
