"""The bulk-send engine checked against a model: random stories of faults, kills and retries.

A Hypothesis state machine drives :func:`votel_airflow.delivery.engine.send_each` in-process against a
sandbox over real HTTP. Each example is one task instance sending one SMS to 1 to 12 recipients
(a few of which the API refuses), in one of six worlds: ``server_idempotency`` true (against a
sandbox that honours the key) or false (against one that ignores it, ``--no-idempotency``), times
the task state store (Airflow 3.3), files beside ``results_destination`` (3.0-3.2) or nothing
durable. Its steps, in any order:

* a **try** of the task, with the sandbox's faults drawn for it: 500s before or after the SMS is
  stored, HTML 502 pages, connections dropped after the commit, answers slower than the read
  timeout, bursts of 429 whose ``Retry-After`` (1 s) is far longer than the hook will wait;
* the same try **killed** SIGKILL-style after its k-th request reached the server: from then on no
  request leaves, no answer is read and no progress write lands, and everything in memory is lost
  (the next try builds a new hook and a new engine: the emulated task retry, same task instance,
  same durable store);
* the wallet set to pay for k more SMS (a **402** part-way) or topped up.

After every try, against the sandbox's own records: nobody is texted twice; every count in the
summary and in the error the try raised agrees with what the sandbox stored; the durable progress
never calls a recipient sent that the sandbox did not text, nor "unsent" one it did (a retry would
text them again on a server that ignores the key). At the end, a clean try must leave every
recipient texted once, refused with a reason, or reported ambiguous.

``make test`` runs a fixed, derandomized budget (``VOTEL_ENGINE_EXAMPLES``, default 300);
``make check-engine`` runs a longer random search.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.support import FakeStateStore, FakeTaskInstance, make_context
from votel_airflow import endpoints
from votel_airflow.delivery import ambiguity
from votel_airflow.delivery.engine import UNKNOWN_EARLIER, SendRequest, send_each
from votel_airflow.delivery.idempotency import stored_progress
from votel_airflow.delivery.progress_stores import ResultsFileProgressStore
from votel_airflow.exceptions import (
    VotelAmbiguousRecipientsError,
    VotelConfigurationError,
    VotelError,
    VotelPaymentRequiredError,
    VotelRecipientsRefusedError,
)
from votel_airflow.hooks.retry import RetryPolicy
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("VOTEL_ENGINE_EXAMPLES", "300"))
#: ``random`` searches new stories (``make check-engine``); anything else replays the fixed ones.
SEARCH = os.environ.get("VOTEL_ENGINE_SEARCH", "fixed")
NAME = "sms"
PROGRESS = f"votel_send_{NAME}"
SMS_PRICE = 0.01
#: Numbers the sandbox refuses (422): the engine's callers validate, the engine does not.
REFUSED = ("not-a-number", "+1")
READ_TIMEOUT = 0.2
#: A "slow" answer outlasts the read timeout; the sandbox stores the SMS after that delay.
SLOW_SECONDS = 0.4
STORES = ("state_store", "results_file", "none")

# One recipient's fate in a stop error: "N of M sent before ... (...); [R refused by the API, ]
# [A failed ambiguously (never sent again), ]K not sent."
STOPPED = re.compile(
    rf"^{NAME}: (\d+) of (\d+) sent before .*?\); (?:(\d+) refused by the API, )?"
    r"(?:(\d+) failed ambiguously \(never sent again\), )?(\d+) not sent\.",
    re.S,
)
TRANSIENT = re.compile(
    rf"^{NAME}: (\d+) of (\d+) sends failed after every retry .*\); (\d+) are sent and recorded, "
    r"(?:(\d+) refused by the API, )?(?:(\d+) failed ambiguously \(never sent again\), )?(\d+) not sent,",
    re.S,
)
AMBIGUOUS = re.compile(rf"^{NAME}: (\d+) of (\d+) sends failed ambiguously .*; (\d+) others are done\.", re.S)
REFUSED_ERROR = re.compile(
    rf"^{NAME}: the API refused (\d+) of (\d+) recipients .*; (\d+) were sent"
    r"(?:, (\d+) failed ambiguously \(never sent again\))?\.",
    re.S,
)


class Killed(BaseException):
    """The worker died (SIGKILL): raised where the dead process would simply have stopped."""


class Killer:
    """When the emulated worker dies: after the ``after``-th request that reached the server."""

    def __init__(self, after: int | None) -> None:
        self.after = after
        self.requests = 0
        self.dead = False
        self.lock = threading.Lock()


class ModelHook(VotelHook):
    """The real hook, with backoffs of milliseconds and a worker that can die."""

    def __init__(self, conn_id: str, killer: Killer) -> None:
        super().__init__(conn_id, timeout=READ_TIMEOUT, retry_after_max=0.01)
        self.killer = killer

    @property
    def policy(self) -> RetryPolicy:
        # The same decisions as in production, only the waits are short (Retry-After capped too).
        return RetryPolicy(
            max_retries=self.settings.max_retries, backoff_base=0.002, backoff_max=0.01, retry_after_max=0.01
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "POST":
            return super().request(method, path, **kwargs)
        killer = self.killer
        with killer.lock:
            if killer.dead:
                raise Killed
            killer.requests += 1
            mine = killer.requests
        try:
            return super().request(method, path, **kwargs)
        finally:
            with killer.lock:
                if mine == killer.after:
                    killer.dead = True
                if killer.dead:
                    raise Killed  # a dead worker reads no answer, whatever it was


class MortalStateStore(FakeStateStore):
    """The task state store; writes after the worker died never land."""

    killer: Killer | None = None

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if self.killer is not None and self.killer.dead:
            return
        super().set(key, value, retention=retention)


#: The killer of the try running now, for the results-file store's writes.
CURRENT = Killer(None)


@pytest.fixture(scope="module")
def honest_server() -> Iterator[SandboxServer]:
    """A sandbox of its own that honours Idempotency-Key (its faults are global to the server)."""
    with SandboxServer(seed=None) as server:
        yield server


FAULTS = st.fixed_dictionaries(
    {
        # not sent: a 502 page before handling; 500s half before, half after the SMS is stored
        "html_502_rate": st.sampled_from([0.0, 0.0, 0.25]),
        "error_rate": st.sampled_from([0.0, 0.0, 0.25]),
        # 5xx after the commit, and connections dropped after it
        "error_after_rate": st.sampled_from([0.0, 0.0, 0.25]),
        "drop_rate": st.sampled_from([0.0, 0.0, 0.2]),
        # answers slower than the read timeout (costly: rare)
        "slow_rate": st.sampled_from([0.0, 0.0, 0.0, 0.0, 0.3]),
        # 429s with Retry-After: 1, while the hook waits 0.01 at most: a long Retry-After
        "burst_429": st.sampled_from([0, 0, 2, 8]),
        "fault_seed": st.integers(0, 3),
    }
)


def test_the_send_engine_keeps_every_promise_under_random_faults_kills_and_retries(
    honest_server: SandboxServer,
    careless_server: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = iter(range(1_000_000))
    real_set = ResultsFileProgressStore.set

    def mortal_set(self: ResultsFileProgressStore, key: str, value: Any, **kwargs: Any) -> None:
        if not CURRENT.dead:
            real_set(self, key, value, **kwargs)

    monkeypatch.setattr(ResultsFileProgressStore, "set", mortal_set)

    class SendEngine(RuleBasedStateMachine):
        @initialize(
            trusted=st.booleans(),
            store=st.sampled_from(STORES),
            count=st.integers(1, 12),
            refused=st.integers(0, 2),
            max_concurrency=st.sampled_from([1, 2, 4]),
            on_rejected=st.sampled_from(["skip", "fail"]),
            on_ambiguous=st.sampled_from(["skip", "fail"]),
        )
        def start(
            self,
            trusted: bool,
            store: str,
            count: int,
            refused: int,
            max_concurrency: int,
            on_rejected: str,
            on_ambiguous: str,
        ) -> None:
            number = next(counter)
            self.server = honest_server if trusted else careless_server
            self.trusted = trusted
            self.store_kind = store
            self.recipients = [f"+1415888{n:04d}" for n in range(count)] + list(REFUSED[:refused])
            self.refusable = set(REFUSED[:refused])
            self.options = {"max_concurrency": max_concurrency, "on_rejected": on_rejected,
                            "on_ambiguous": on_ambiguous}  # fmt: skip
            self.key = self.server.admin.create_account(balance=100.0, seed=False)
            self.conn_id = f"votel_model_{number}"
            extra = {"server_idempotency": trusted, "adaptive_pacing": False, "max_retries": 2}
            conn = {"conn_type": "votel", "host": self.server.base_url, "password": self.key, "extra": extra}
            monkeypatch.setenv(f"AIRFLOW_CONN_{self.conn_id.upper()}", json.dumps(conn))
            self.state_store = MortalStateStore()
            self.results = tmp_path / f"example-{number}" / "sms.json"
            self.tries = 0
            # Whether a request may have been stored without the engine learning it (a 5xx after
            # the commit, a drop, a timeout, a kill): counts may then lag the sandbox until a retry.
            self.unconfirmed = False
            self.healthy = True

        # -- the steps -------------------------------------------------------------------------

        @rule(faults=FAULTS, kill_after=st.one_of(st.none(), st.integers(1, 14)))
        def a_try(self, faults: dict[str, Any], kill_after: int | None) -> None:
            self.run_try(faults, kill_after, **self.options)

        @rule(affordable=st.integers(0, 12))
        def the_wallet_pays_for(self, affordable: int) -> None:
            self.server.admin.set_wallet(self.key, affordable * SMS_PRICE)

        @rule()
        def top_up(self) -> None:
            self.server.admin.set_wallet(self.key, 100.0)

        # -- one try and its checks ---------------------------------------------------------------

        def context(self) -> dict[str, Any]:
            self.tries += 1
            store = self.state_store if self.store_kind == "state_store" else None
            return make_context(ti=FakeTaskInstance(try_number=self.tries), state_store=store)

        def run_try(
            self, faults: dict[str, Any] | None, kill_after: int | None, **options: Any
        ) -> dict[str, Any] | None:
            global CURRENT
            self.healthy = False
            killer = CURRENT = Killer(kill_after)
            self.state_store.killer = killer
            if faults:
                self.server.admin.set_faults(slow_seconds=SLOW_SECONDS, **faults)
                if faults["error_rate"] or faults["error_after_rate"] or faults["drop_rate"]:
                    self.unconfirmed = True
                if faults["slow_rate"]:
                    self.unconfirmed = True
            destination = str(self.results) if self.store_kind == "results_file" else None
            outcome: dict[str, Any] | BaseException
            try:
                outcome = send_each(
                    ModelHook(self.conn_id, killer), self.context(), self.recipients, sms, name=NAME,
                    results_destination=destination, **options,
                )  # fmt: skip
            except (Killed, VotelError) as exc:
                outcome = exc
            finally:
                self.server.admin.clear_faults()
                if faults and faults["slow_rate"]:
                    time.sleep(SLOW_SECONDS + 0.1)  # a late request stores its SMS now
            if killer.dead:
                self.unconfirmed = True
            self.check(outcome)
            if self.store_kind == "none":
                # Nothing survives the try: the next one cannot know what this one sent.
                self.unconfirmed = True
            self.healthy = True
            return outcome if isinstance(outcome, dict) else None

        def texted(self) -> Counter[str]:
            return Counter(r["recipient"] for r in self.server.admin.records(self.key, "sms"))

        def durable_progress(self) -> dict[str, Any] | None:
            if self.store_kind == "state_store":
                return stored_progress(self.state_store, PROGRESS)
            if self.store_kind == "results_file":
                from votel_airflow.destinations import as_storage_path

                context = make_context(ti=FakeTaskInstance(try_number=self.tries))
                files = ResultsFileProgressStore(context, as_storage_path("r", str(self.results)))
                return stored_progress(files, PROGRESS)
            return None

        def check(self, outcome: dict[str, Any] | BaseException) -> None:
            texted = self.texted()
            records = {r["recipient"]: r["id"] for r in self.server.admin.records(self.key, "sms")}
            total = len(self.recipients)
            # Nobody reached twice, whatever happened.
            assert max(texted.values(), default=0) <= 1, texted
            assert not set(texted) & self.refusable

            if not self.trusted and self.store_kind == "none":
                # Nothing durable to write ahead to: refused before the first request, every time.
                assert isinstance(outcome, VotelConfigurationError), outcome
                assert "Set results_destination" in str(outcome)
                assert texted == Counter()
                return

            progress = self.durable_progress()
            if progress is not None:
                for recipient, value in progress.items():
                    mark = ambiguity.marker(value)
                    if isinstance(value, str):
                        assert records.get(recipient) == value, (recipient, value, records)
                    elif mark == ambiguity.UNSENT:
                        assert recipient not in records, (recipient, "recorded unsent, yet texted")
                    elif isinstance(value, dict) and "error" in value:
                        assert recipient in self.refusable, (recipient, value)
                        assert value["error"], (recipient, value)

            reached = len(records)
            if isinstance(outcome, Killed):
                return
            if isinstance(outcome, dict):
                self.check_summary(outcome, records, total)
                return
            message = str(outcome)
            if isinstance(outcome, VotelPaymentRequiredError):
                match = STOPPED.match(message)
                assert match, message
                sent, of, refused, doubtful, unsent = (int(g or 0) for g in match.groups())
                assert of == total, message
                assert sent + refused + doubtful + unsent == total, message
                self.check_reached(sent, doubtful, unsent, reached, message)
            elif isinstance(outcome, VotelAmbiguousRecipientsError):
                match = AMBIGUOUS.match(message)
                assert match, message
                doubtful, of, sent = (int(g) for g in match.groups())
                assert not self.trusted, message
                assert of == total, message
                assert self.options["on_ambiguous"] == "fail", message
                assert sent <= reached <= sent + doubtful, (message, records)
            elif isinstance(outcome, VotelRecipientsRefusedError):
                match = REFUSED_ERROR.match(message)
                assert match, message
                refused, of, sent, doubtful = (int(g or 0) for g in match.groups())
                assert of == total, message
                assert 0 < refused <= len(self.refusable), message
                assert sent + refused + doubtful == total, message
                assert self.options["on_rejected"] == "fail", message
                self.check_reached(sent, doubtful, 0, reached, message)
            else:
                match = TRANSIENT.match(message)
                assert match, f"{type(outcome).__name__}: {message}"
                failed, of, sent, refused, doubtful, unsent = (int(g or 0) for g in match.groups())
                assert of == total, message
                assert sent + refused + doubtful + unsent == total, message
                assert failed > 0, message
                if not self.trusted:
                    assert failed <= unsent, message  # each recorded "unsent", for the retry
                self.check_reached(sent, doubtful, unsent, reached, message)

        def check_reached(self, sent: int, doubtful: int, unsent: int, reached: int, message: str) -> None:
            """The sandbox texted ``sent`` people, give or take what the engine cannot know."""
            assert reached >= sent, (message, reached)
            if self.trusted:
                # An unconfirmed request (a 500 after the commit, all retries spent) may have
                # texted someone counted as not sent: the retry's same key settles it.
                assert reached <= sent + unsent, (message, reached)
                if not self.unconfirmed:
                    assert reached == sent, (message, reached)
                if self.store_kind == "none" and reached > sent:
                    assert UNKNOWN_EARLIER in message, message
            else:
                assert reached <= sent + doubtful, (message, reached)

        def check_summary(self, summary: dict[str, Any], records: dict[str, str], total: int) -> None:
            ids = summary["message_ids"]
            errors = {e["recipient"] for e in summary["errors"]}
            doubtful = set(summary["ambiguous_recipients"])
            assert summary["requested"] == total, summary
            assert summary["duplicates"] == 0, summary
            assert len(ids) == summary["sent"] + summary["resumed"] + summary["reconciled"], summary
            assert len(ids) + summary["failed"] + summary["ambiguous"] == total, summary
            assert summary["failed"] == len(errors), summary
            assert errors <= self.refusable, summary
            assert self.refusable <= errors | doubtful, summary
            assert set(ids) <= set(records.values()), (summary, records)
            assert summary["ambiguous"] == len(doubtful), summary
            if self.trusted:
                assert summary["ambiguous"] == 0, summary
                assert len(ids) == len(records), (summary, records)
            else:
                assert len(ids) <= len(records) <= len(ids) + len(doubtful), (summary, records)
                assert set(records) <= {r for r, i in records.items() if i in ids} | doubtful, summary

        def teardown(self) -> None:
            if not getattr(self, "healthy", False):
                return  # a step failed (Hypothesis reports it) or the example never started
            self.top_up()
            if not self.trusted and self.store_kind == "none":
                self.run_try(None, None, **self.options)  # refused again, before any request
                return
            # A clean try, told to report rather than fail: everybody ends texted once, refused
            # with a reason, or reported ambiguous; with a server that honours the key, texted.
            summary = self.run_try(None, None, max_concurrency=4, on_rejected="skip", on_ambiguous="skip")
            assert summary is not None
            texted = self.texted()
            doubtful = set(summary["ambiguous_recipients"])
            errors = {e["recipient"] for e in summary["errors"]}
            for recipient in self.recipients:
                if recipient in self.refusable:
                    assert recipient in errors | doubtful, (recipient, summary)
                elif self.trusted:
                    assert texted[recipient] == 1, (recipient, texted, summary)
                else:
                    assert texted[recipient] == 1 or recipient in doubtful, (recipient, texted, summary)

    run_state_machine_as_test(
        SendEngine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=5,
            derandomize=SEARCH != "random",
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )


def sms(number: Any) -> SendRequest:
    return SendRequest("POST", endpoints.SMS, {"to": number, "body": "Your table is ready"})
