"""``python -m votel_airflow.sandbox``: the same as the ``votel-sandbox`` command."""

from __future__ import annotations

from votel_airflow.sandbox.cli import main

raise SystemExit(main())
