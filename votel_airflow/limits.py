"""Deprecated: the limits live in :mod:`votel_airflow.defaults`; importable from here for one release."""

from __future__ import annotations

from votel_airflow.defaults import MAX_PAGE_SIZE, POOL_SIZE

__all__ = ["MAX_PAGE_SIZE", "POOL_SIZE"]
