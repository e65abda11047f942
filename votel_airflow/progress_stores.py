"""Deprecated: moved to :mod:`votel_airflow.delivery.progress_stores` (issue 22, item 8).

Importable from here for one release, each name warning where it lives now
(:func:`votel_airflow.moved.forward`): the API reference (Building blocks)
documented `ResultsFileProgressStore` here.
"""

from __future__ import annotations

from typing import Any

from votel_airflow.delivery import progress_stores as _new
from votel_airflow.moved import forward


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
