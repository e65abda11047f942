"""Deprecated: moved to :mod:`votel_airflow.delivery.engine` (issue 22, item 8).

Importable from here for one release, each name warning where it lives now
(:func:`votel_airflow.moved.forward`): the 0.1.0 changelog and the exactly-once
guide named this path (`send_each`), and the 0.2.0 changelog keeps `VotelRecipientsRefusedError`
importable from it.
"""

from __future__ import annotations

from typing import Any

from votel_airflow.delivery import engine as _new
from votel_airflow.moved import forward


def __getattr__(name: str) -> Any:
    return forward(__name__, _new, name)
