"""A local Votel API for tests, examples and demos: the whole contract, served for real.

Start it from the command line (``votel-sandbox``) or from Python::

    from votel_airflow.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        key = sandbox.admin.create_account(balance=5.0)
        ...  # point a ``votel`` connection at sandbox.base_url with that key

FastAPI and uvicorn are imported only by the server process, never by this package's import.
"""

from __future__ import annotations

from votel_airflow.sandbox.config import FaultConfig, SandboxConfig
from votel_airflow.sandbox.server import SandboxAdmin, SandboxServer

__all__ = ["FaultConfig", "SandboxAdmin", "SandboxConfig", "SandboxServer"]
