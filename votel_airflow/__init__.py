"""Apache Airflow provider for the Votel API: AI voice agents and CRM."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
