"""The running sandbox: configuration, database and the mutable run-time knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from votel_airflow.sandbox.config import SandboxConfig
from votel_airflow.sandbox.faults import FaultInjector
from votel_airflow.sandbox.logs import KeysetCache
from votel_airflow.sandbox.rate_limit import RateLimiter
from votel_airflow.sandbox.stats import Stats
from votel_airflow.sandbox.store import Store


@dataclass
class Sandbox:
    """Everything a handler or the middleware may need, hung on ``app.state.sandbox``."""

    config: SandboxConfig
    store: Store
    faults: FaultInjector
    limiter: RateLimiter
    stats: Stats = field(default_factory=Stats)
    pages: KeysetCache = field(default_factory=KeysetCache)
