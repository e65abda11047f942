"""Every knob of the sandbox, in one frozen value built by the CLI or by tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BALANCE = 500.0
DEFAULT_CREATED_BALANCE = 100.0
#: Environment variable read by ``votel-sandbox`` when ``--today`` is not given.
TODAY_ENV = "VOTEL_SANDBOX_TODAY"


@dataclass(frozen=True)
class FaultConfig:
    """What share of requests the sandbox answers badly, and how.

    :param error_rate: share answered 500; half before handling (nothing done), half after
        handling (done once, answered 500).
    :param html_502_rate: share answered by an HTML 502 page before handling.
    :param drop_rate: share handled, then dropped mid-response (the client sees a broken
        connection).
    :param slow_rate: share delayed by ``slow_seconds`` before handling.
    :param slow_seconds: the delay of a slow answer.
    :param burst_429: the next N requests of every API key are answered 429 with
        ``Retry-After: burst_retry_after``.
    :param error_after_rate: share handled (done once), then answered 500: a failure after the
        commit, the one a client cannot tell from a failure before it.
    :param fault_seed: seed of the random draws, so a run is repeatable.
    :param burst_retry_after: the ``Retry-After`` of those 429s, in whole seconds (a long one
        holds every caller of the account in a client process).
    """

    error_rate: float = 0.0
    html_502_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    burst_429: int = 0
    fault_seed: int = 0
    error_after_rate: float = 0.0
    burst_retry_after: int = 1

    def validate(self) -> None:
        """Raise ``ValueError`` when a rate is outside [0, 1] or the rates sum above 1."""
        for name in ("error_rate", "html_502_rate", "drop_rate", "slow_rate", "error_after_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.error_rate + self.html_502_rate + self.drop_rate + self.error_after_rate > 1.0:
            raise ValueError("error_rate + html_502_rate + drop_rate + error_after_rate must not exceed 1")
        if self.slow_seconds < 0 or self.burst_429 < 0 or self.burst_retry_after < 0:
            raise ValueError("slow_seconds, burst_429 and burst_retry_after must not be negative")


@dataclass(frozen=True)
class SandboxConfig:
    """The sandbox's configuration.

    :param host: interface to bind; loopback unless told otherwise.
    :param port: TCP port; 0 picks a free one.
    :param db: SQLite file for the state; ``None`` keeps it in memory.
    :param seed: seed of the fake data; ``None`` creates the accounts empty.
    :param accounts: how many seeded accounts to create on an empty database.
    :param api_keys: extra accounts, one per key, created when missing.
    :param admin_token: the ``X-Admin-Token`` the admin API requires.
    :param rate_limit: requests per second per API key; ``None`` for no limit.
    :param faults: faults injected from the start.
    :param call_stage_seconds: time a call spends in each of queued, ringing, in progress.
    :param message_stage_seconds: time a message spends queued, then sent.
    :param enrollment_seconds: time an enrollment stays active.
    :param job_seconds: time an import or export job spends pending, then processing.
    :param reply_seconds: delay of the automatic "YES" reply of contacts whose phone ends in 7.
    :param max_body_bytes: largest accepted request body; larger ones get 413.
    :param balance: opening wallet balance of the seeded accounts.
    :param idempotency: honour ``Idempotency-Key`` (the contract); False emulates a server that
        ignores the header, and does a repeated request again.
    :param renamed_paths: ``(old, new)`` path templates: the API serves (and documents) ``old``
        under ``new``, as a service that differs from the contract would.
    :param removed_paths: path templates the API neither serves nor documents.
    :param today: the UTC day the seeded week of logs leads up to; ``None`` for the real UTC
        day at the time an account is seeded. Live activity is stamped with the wall clock
        either way.
    """

    host: str = "127.0.0.1"
    port: int = 0
    db: str | None = None
    seed: int | None = 1
    accounts: int = 2
    api_keys: tuple[str, ...] = ()
    admin_token: str = "admin"
    rate_limit: float | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    call_stage_seconds: float = 1.0
    message_stage_seconds: float = 0.5
    enrollment_seconds: float = 1.0
    job_seconds: float = 0.5
    reply_seconds: float = 1.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    balance: float = DEFAULT_BALANCE
    idempotency: bool = True
    renamed_paths: tuple[tuple[str, str], ...] = ()
    removed_paths: tuple[str, ...] = ()
    today: date | None = None
