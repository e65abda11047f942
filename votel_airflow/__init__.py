"""Apache Airflow provider for the Votel API: AI voice agents and CRM."""

from __future__ import annotations

from votel_airflow.compat import require_supported_airflow

__version__ = "0.1.0"

__all__ = ["__version__"]

# Under Airflow 2 every import of the provider stops here, with one error naming the supported range.
require_supported_airflow()
