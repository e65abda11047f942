"""``python -m votel_airflow.check_api``: the same as ``votel-check-api``."""

from __future__ import annotations

import sys

from votel_airflow.check_api.cli import main

if __name__ == "__main__":
    sys.exit(main())
