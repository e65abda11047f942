"""The bulk-send engine: one side effect per recipient, exactly once, paced and resumable.

Every operator that reaches people one request at a time (``SendSmsOperator``,
``SendEmailOperator``, ``SendMessageOperator``) hands its recipients to :func:`send_each`.

Contract
--------
Inputs
    * ``recipients``: already validated strings or JSON objects. Duplicates are sent once (the
      first occurrence wins); a recipient's identity is :func:`recipient_key` (the string itself,
      or the canonical JSON of a dict) unless a ``key`` function is given.
    * ``build(recipient) -> SendRequest``: the method, catalogue path and JSON body for one
      recipient. It must be pure: a retried task rebuilds the same request.
    * ``context``: the task's execution context; it names the idempotency keys and holds the
      task state store.
    * ``name``: what kind of effect this is (``"sms"``, ``"email"``, ...): the namespace of the
      idempotency keys and the name of the progress entry in the task state store.

Guarantees
    * **Exactly once.** Each request carries ``idempotency_key(context, name, key(recipient))``:
      a retry of the task (or the hook's own retry of a 5xx or a broken connection) asks the
      server for the same effect again, and the server answers with the first response.
    * **Resume.** Each finished recipient is recorded in
      :class:`~votel_airflow.delivery.idempotency.TaskProgress` (the task state store on Airflow
      3.3+; on 3.0-3.2 a progress file beside ``results_destination``, see
      :mod:`votel_airflow.delivery.progress_stores`); a retried task skips them without a request
      and counts them as ``resumed``.
    * **Pace.** At most ``max_concurrency`` requests are in flight, all on the hook's one pooled
      session. With ``rate_limit`` no two recipients' requests start closer than
      ``1 / rate_limit`` seconds apart (a token bucket of capacity one, shared by the threads), so
      N recipients take at least ``(N - 1) / rate_limit`` seconds. 429s are waited out by the hook
      (``Retry-After`` honoured); its retries are paced by its own backoff.
    * **Stop at once when nothing more can succeed.** A 402 (wallet empty), 401 or 403 stops
      submitting, lets the requests already in flight finish, flushes progress and raises the
      typed error with ``"N of M sent before ..."``. So does an interrupted hook (the task's
      ``on_kill``): it raises :class:`~votel_airflow.exceptions.VotelInterruptedError` naming the
      recipients not sent, which a retry sends, never counting them as failed sends.
    * **Rejected recipients.** A 400/404/409/422 for one recipient is that recipient's problem: it
      is recorded (so a retry does not repeat it) and counted in ``failed``. With
      ``on_rejected="fail"`` the task fails after every other recipient was sent; with ``"skip"``
      it succeeds and the summary lists them.
    * **Transient failures** (5xx, 429 or no answer after all the hook's retries) are not
      recorded: the engine finishes the others, then raises so Airflow retries, and the retry sends
      only what is missing.

Server without idempotency (``server_idempotency`` false on the connection)
    * Progress must be durable (the task state store, or files beside ``results_destination``):
      without either the send raises :class:`~votel_airflow.exceptions.VotelConfigurationError`
      before its first request, since a write-ahead kept in memory cannot stop a retry.
    * A send that failed ambiguously (timeout, connection lost after sending, 5xx) is never sent
      again, by the hook or by a task retry: it is recorded as ambiguous in the progress, looked
      up in the messaging log (``reconcile``) and reported; ``on_ambiguous="fail"`` fails the task
      (without retries) after every other recipient is done, ``"skip"`` succeeds and lists them.
    * Each batch of ``max_concurrency`` recipients is recorded as pending before any of its
      requests leaves, in one progress write that also carries the results settled since the
      previous one (so about ``N / max_concurrency`` writes in all): a worker killed mid-request
      leaves the batch in flight and the one written ahead (at most ``2 * max_concurrency``
      recipients) ambiguous, never sent twice. Requests that surely had no effect (429, refused
      connection, 402) are sent again by the retry. See :mod:`votel_airflow.delivery.ambiguity`.

Result (JSON-safe, small)
    ``{"requested", "duplicates", "sent", "resumed", "skipped_invalid", "failed", "message_ids",
    "message_ids_truncated", "results_uri", "invalid", "errors", "ambiguous",
    "ambiguous_recipients", "reconciled"}``. ``ambiguous`` counts the recipients whose send may
    or may not have taken effect (listed in ``ambiguous_recipients``, at most 100);
    ``reconciled`` those of this try found in the messaging log, counted as sent once.
    ``requested`` counts every input (invalid and duplicate ones too); ``sent`` counts the
    requests this try made, ``resumed`` the recipients an earlier try finished. ``message_ids``
    holds the ids of every sent recipient (resumed ones too), in input order, at most
    :data:`MAX_IDS_IN_XCOM` of them (``message_ids_truncated`` says when there are more); the
    full ``{recipient key: message id}`` map is written as one JSON object to
    ``results_destination`` when one is given, and ``results_uri`` names it. ``invalid`` and
    ``errors`` list at most :data:`MAX_LISTED` items.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeAlias

from votel_airflow.delivery import ambiguity
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.delivery.progress_stores import (
    ResultsFileProgressStore,
    progress_store,
    require_durable_write_ahead,
)

# Message ids kept in the XCom summary, the same cap as every bulk operator's; the rest go to
# ``results_destination``.
from votel_airflow.delivery.xcom_results import MAX_IDS_IN_XCOM
from votel_airflow.destinations import optional_storage_path
from votel_airflow.exceptions import (
    VotelAuthError,
    VotelBadRequestError,
    VotelError,
    VotelInterruptedError,
    VotelNotFoundError,
    VotelOutcomeUnknownError,
    VotelPaymentRequiredError,
    VotelPermissionError,
    VotelRecipientsRefusedError,  # also importable from here, as before (deprecated)
    render_detail,
)
from votel_airflow.stream_to_file import write_document

# The argument checks live in validation: the senders run them at DAG parse time, without this engine.
from votel_airflow.validation import check_max_concurrency, check_rate_limit, require_choice

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

Recipient: TypeAlias = "str | Mapping[str, Any]"
#: Rejected recipients and invalid inputs listed in the summary (the counts are always exact).
MAX_LISTED = 100
#: Errors that no other recipient's request can escape: stop sending at once. An interrupted hook
#: (the task's ``on_kill``) refuses every later request unsent, so the rest are "not sent", not
#: failures to retry in this try.
STOPPING_ERRORS = (VotelPaymentRequiredError, VotelAuthError, VotelPermissionError, VotelInterruptedError)
#: Errors about one recipient's request only.
REJECTED_ERRORS = (VotelBadRequestError, VotelNotFoundError)
ON_REJECTED = ("fail", "skip")
#: Appended to the counts of an error when progress does not survive the try.
UNKNOWN_EARLIER = (
    "These counts are this try's own: without a task state store or results_destination an earlier "
    "try's sends are not known here (the retry asks the server again under the same keys, and it "
    "answers those with its first response)."
)
#: What became of a recipient, as the errors count them (see :func:`_fate`).
SENT, REFUSED, AMBIGUOUS, UNSENT = "sent", "refused", "ambiguous", "unsent"
#: How every error counts the recipients whose send failed ambiguously (``{n}`` is their count).
AMBIGUOUS_COUNT = "{n} failed ambiguously (never sent again)"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendRequest:
    """One recipient's request.

    :param method: HTTP method, e.g. ``"POST"``.
    :param path: a filled path from :mod:`votel_airflow.endpoints`.
    :param json: the request body.
    :param verb: the hook verb that sends it (``"send_sms"``...), called with ``arguments`` and
        the recipient's key; None to send ``json`` to ``path`` as it is.
    :param arguments: the verb's keyword arguments.
    :param screened: the sender applied the outreach policy to this recipient already, so the
        verb must not read it all again for each one (``screen=False``).
    """

    method: str
    path: str
    json: Mapping[str, Any]
    verb: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    screened: bool = False

    @classmethod
    def through(cls, verb: str, *, screened: bool = False, **arguments: Any) -> SendRequest:
        """The request a hook verb (``send_sms``, ``send_email``, ``send_message``) makes, checked."""
        from votel_airflow.hooks.verbs import SEND_REQUESTS

        path, body = SEND_REQUESTS[verb](**arguments)
        return cls("POST", path, body, verb, arguments, screened)

    def send(self, hook: VotelHook, key: str) -> Any:
        """Make the request with ``key`` as its ``Idempotency-Key``; return the answer."""
        if self.verb is not None:
            verb: Callable[..., Any] = getattr(hook, self.verb)
            screen = {"screen": False} if self.screened else {}
            return verb(**self.arguments, idempotency_key=key, **screen)
        return hook.request(self.method, self.path, json=dict(self.json), idempotency_key=key)


def recipient_key(recipient: Recipient) -> str:
    """The identity of a recipient: the string itself, or the canonical JSON of a dict."""
    if isinstance(recipient, str):
        return recipient
    return json.dumps(recipient, sort_keys=True, separators=(",", ":"), default=str)


class RateLimiter:
    """A token bucket of capacity one, safe to share between threads.

    Each :meth:`acquire` reserves the next free start slot under a lock and sleeps until it, so
    starts are at least ``1 / rate`` seconds apart whatever the number of threads: never faster
    than ``rate`` per second, and no burst after an idle spell.

    :param rate: requests per second; None means no limit.
    """

    def __init__(self, rate: float | None) -> None:
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next slot; False when ``stop`` was set while waiting."""
        if not self._interval:
            return not (stop is not None and stop.is_set())
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        delay = slot - time.monotonic()
        if stop is not None:
            return not stop.wait(delay) if delay > 0 else not stop.is_set()
        if delay > 0:
            time.sleep(delay)
        return True


@dataclass
class _Tally:
    """What happened to the recipients of this try."""

    sent: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    transient: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, str] = field(default_factory=dict)
    reconciled: int = 0
    stopped_by: VotelError | None = None


_CANCELLED = object()


def send_each(
    hook: VotelHook,
    context: Mapping[str, Any],
    recipients: Sequence[Recipient],
    build: Callable[[Recipient], SendRequest],
    *,
    name: str,
    max_concurrency: int = 8,
    rate_limit: float | None = None,
    on_rejected: str = "fail",
    invalid: Sequence[Any] = (),
    results_destination: Any = None,
    key: Callable[[Recipient], str] = recipient_key,
    id_field: str = "id",
    on_ambiguous: str = "fail",
    reconcile: bool = True,
) -> dict[str, Any]:
    """Send one request per recipient, exactly once; return the summary (see the module docstring).

    :param hook: the hook whose pooled session every thread shares.
    :param context: the task's execution context.
    :param recipients: validated recipients, strings or JSON objects.
    :param build: the request for one recipient.
    :param name: the kind of effect; namespaces the idempotency keys and the progress entry.
    :param max_concurrency: requests in flight at most, 1 to the hook's pool size.
    :param rate_limit: requests per second at most; None for no limit.
    :param on_rejected: ``"fail"`` or ``"skip"`` recipients the API refuses (400/404/409/422).
    :param invalid: inputs the caller skipped as invalid, reported in the summary.
    :param results_destination: file (path or URL) for the full ``{recipient: message id}`` JSON.
    :param key: the identity of a recipient, for idempotency and progress.
    :param id_field: the field of the response holding the message id.
    :param on_ambiguous: ``"fail"`` (after every other recipient is done) or ``"skip"`` when sends
        failed ambiguously on a server that ignores ``Idempotency-Key`` (see :mod:`.ambiguity`).
    :param reconcile: look ambiguous sends up in the messaging log before reporting them.
    """
    max_concurrency = check_max_concurrency(max_concurrency)
    rate_limit = check_rate_limit(rate_limit)
    require_choice("on_rejected", on_rejected, ON_REJECTED)
    require_choice("on_ambiguous", on_ambiguous, ambiguity.ON_AMBIGUOUS)
    destination = optional_storage_path("results_destination", results_destination)

    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(key(recipient), recipient)
    # Also loads the hook's settings once here rather than racing for them in every thread.
    trusted = ambiguity.log_mode(hook, name)
    store = progress_store(context, destination)
    if not trusted:
        # Before any request: without a durable store the write-ahead would live in memory only,
        # and a retried task would send everyone again on a server that ignores the keys.
        require_durable_write_ahead(store, name, "results_destination")
    progress = TaskProgress(context, f"votel_send_{name}", store)
    if not progress.durable:
        log.warning(
            "%s: this Airflow has no task state store (it arrived in 3.3) and no results_destination is "
            "set, so a retry of this task relies on idempotency keys alone: the server answers a repeated "
            "key with the first response, but every recipient is asked again. Set results_destination "
            "to keep progress across retries.",
            name,
        )
    earlier = progress.done()
    # A request an earlier try wrote ahead but never settled (the worker died) may have left.
    for k in unique:
        if ambiguity.marker(earlier.get(k)) == ambiguity.PENDING:
            reason = "the task stopped while the request may have been in flight"
            earlier[k] = ambiguity.ambiguous(reason, earlier[k].get("at") or time.time())
            progress.record(k, earlier[k])
    todo = [(k, r) for k, r in unique.items() if _fate(earlier, k) == UNSENT]
    # Refused recipients are not "resumed": nothing reached them.
    resumed = sum(1 for k in unique if _fate(earlier, k) == SENT)
    if resumed:
        log.info("Resuming %s: %d of %d recipients were done by an earlier try", name, resumed, len(unique))

    tally = _Tally()
    try:
        _run(
            hook, context, name, todo, build, progress, tally, max_concurrency, rate_limit, id_field, trusted
        )
        if reconcile and not trusted:
            _reconcile(hook, name, unique, build, progress, tally)
    finally:
        progress.flush()

    done = progress.done()
    # Every count an error states comes from the recorded fates, the same ones the summary reads.
    fates = Counter(_fate(done, k) for k in unique)
    # Without durable progress this try cannot know what an earlier one sent: say so, rather than
    # call "not sent" someone an earlier try texted.
    caveat = "" if progress.durable else f" {UNKNOWN_EARLIER}"
    if tally.stopped_by is not None:
        raise _stopped_error(tally.stopped_by, name, fates, len(unique), caveat)
    summary = _summary(unique, done, invalid, resumed, tally, recipients)
    if destination is not None:
        summary["results_uri"] = _write_results(destination, unique, done)
    if tally.transient:
        first = next(iter(tally.transient.items()))
        raise VotelError(
            f"{name}: {len(tally.transient)} of {len(unique)} sends failed after every retry "
            f"(first: {first[0]}: {first[1]}); {fates[SENT]} are sent and recorded, {_others(fates)}"
            f"{fates[UNSENT]} not sent, so a retry of this task sends only to those {fates[UNSENT]}.{caveat}"
        )
    rejected = {k: v for k, v in done.items() if k in unique and isinstance(v, dict) and "error" in v}
    unresolved = summary["ambiguous_recipients"]
    if unresolved and on_ambiguous == "fail":
        keys = [k for k in unique if ambiguity.marker(done.get(k)) == ambiguity.AMBIGUOUS]
        raise ambiguity.ambiguous_error(name, keys, len(unique), fates[SENT])
    if rejected and on_rejected == "fail":
        listed = dict(list(rejected.items())[:20])
        doubtful = ", " + AMBIGUOUS_COUNT.format(n=fates[AMBIGUOUS]) if fates[AMBIGUOUS] else ""
        raise VotelRecipientsRefusedError(
            f"{name}: the API refused {len(rejected)} of {len(unique)} recipients "
            f"({ {k: v['error'] for k, v in listed.items()} }); {fates[SENT]} were sent{doubtful}. "
            "Fix or drop those recipients, or pass on_invalid='skip' to accept the refusals."
        )
    if trusted and isinstance(store, ResultsFileProgressStore):
        # Done, and the results file says what was sent: no retry needs the progress file now. On
        # a server that ignores the keys it stays: a cleared task must not send everyone again.
        store.discard()
    return summary


def settled_recipients(context: Mapping[str, Any], name: str, results_destination: Any = None) -> set[str]:
    """Keys of the recipients an earlier try of this task settled (sent, refused, or possibly sent).

    :func:`send_each` never sends to them again, so a sender need not judge them again either:
    the outreach policy screens only the others (a retry after a send must not call the people it
    just texted "frequency capped").

    :param context: the task's execution context.
    :param name: the kind of effect, as given to :func:`send_each`.
    :param results_destination: the send's ``results_destination``, where progress may live.
    """
    destination = optional_storage_path("results_destination", results_destination)
    return settled(TaskProgress(context, f"votel_send_{name}", progress_store(context, destination)))


def settled(progress: TaskProgress) -> set[str]:
    """Keys of ``progress`` an earlier try settled (sent, refused, or possibly sent): the outreach
    policy does not judge them again, since a try never repeats them (nor counts its own sends
    against a cap).

    :param progress: the progress of one kind of effect of this task instance.
    """
    done = progress.done()
    return {k for k in done if _fate(done, k) != UNSENT}


def _run(
    hook: VotelHook,
    context: Mapping[str, Any],
    name: str,
    todo: list[tuple[str, Recipient]],
    build: Callable[[Recipient], SendRequest],
    progress: TaskProgress,
    tally: _Tally,
    max_concurrency: int,
    rate_limit: float | None,
    id_field: str,
    trusted: bool = True,
) -> None:
    limiter = RateLimiter(rate_limit)
    stop = threading.Event()

    def send_one(item: tuple[str, Recipient]) -> Any:
        rkey, recipient = item
        request = build(recipient)
        if not limiter.acquire(stop):
            return _CANCELLED
        return request.send(hook, idempotency_key(context, name, rkey))

    # Submit lazily, at most max_concurrency at a time: a stop leaves nothing queued to cancel
    # and memory stays flat however long the recipient list is.
    pending_items: Iterator[tuple[str, Recipient]] = iter(todo)
    in_flight: dict[Future[Any], str] = {}
    total = len(todo)
    step = max(1, total // 10)
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=f"votel-{name}") as pool:
        # Recipients written ahead as pending whose requests have not left yet.
        written_ahead: deque[tuple[str, Recipient]] = deque()

        def next_item() -> tuple[str, Recipient] | None:
            if trusted:
                return next(pending_items, None)
            if not written_ahead:
                # Write-ahead, one durable write per batch of max_concurrency: the batch is recorded
                # as pending (with every result settled since the last write) before any of its
                # requests leaves, so a worker killed mid-request leaves these recipients ambiguous
                # for the retry, never sent twice.
                batch = list(islice(pending_items, max_concurrency))
                if not batch:
                    return None
                now = time.time()
                for item in batch:
                    progress.record(item[0], ambiguity.pending(now))
                written_ahead.extend(batch)
                progress.flush()
            return written_ahead.popleft()

        def top_up() -> None:
            while not stop.is_set() and len(in_flight) < max_concurrency:
                item = next_item()
                if item is None:
                    break
                in_flight[pool.submit(send_one, item)] = item[0]

        crash: BaseException | None = None

        def settle(future: Future[Any]) -> None:
            nonlocal crash
            rkey = in_flight.pop(future)
            try:
                answer = future.result()
            except STOPPING_ERRORS as exc:
                if tally.stopped_by is None:
                    tally.stopped_by = exc
                stop.set()
                if not trusted:
                    progress.record(rkey, ambiguity.unsent(str(exc)))
            except REJECTED_ERRORS as exc:
                reason = render_detail(exc.detail) if exc.detail is not None else str(exc)
                tally.rejected[rkey] = reason
                progress.record(rkey, {"error": reason, "status": exc.status_code})
            except VotelOutcomeUnknownError as exc:
                tally.ambiguous[rkey] = str(exc)
                progress.record(rkey, ambiguity.ambiguous(str(exc), time.time()))
            except VotelError as exc:
                tally.transient[rkey] = str(exc)
                if not trusted:
                    # Refused (429) or never sent: safe to send again on the retry.
                    progress.record(rkey, ambiguity.unsent(str(exc)))
            except BaseException as exc:
                # Keep draining: sends that finished alongside a crash must still be recorded as
                # done, or the retry would have to ask the server to replay them.
                crash = crash or exc
                stop.set()
            else:
                if answer is _CANCELLED:
                    if not trusted:
                        progress.record(rkey, ambiguity.unsent("not sent: the task stopped first"))
                    return
                message_id = answer.get(id_field) if isinstance(answer, dict) else None
                progress.record(rkey, message_id)
                tally.sent += 1
                if tally.sent % step == 0:
                    log.info("%s: %d of %d sent", name, tally.sent, total)

        top_up()
        try:
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    settle(future)
                top_up()
        except BaseException:
            # Interrupted in this thread (a task timeout, a kill signal): stop submitting, record
            # what the sends already under way achieve, then let the interruption through.
            stop.set()
            for future in list(in_flight):
                future.exception()  # waits for it; settle() reads the outcome
                settle(future)
            raise
        finally:
            # Written ahead but never sent (the send stopped first): a retry sends them.
            for rkey, _ in written_ahead:
                progress.record(rkey, ambiguity.unsent("not sent: the task stopped first"))
    if crash is not None:
        raise crash


def _reconcile(
    hook: VotelHook,
    name: str,
    unique: Mapping[str, Recipient],
    build: Callable[[Recipient], SendRequest],
    progress: TaskProgress,
    tally: _Tally,
) -> None:
    """Look the ambiguous recipients (this try's and earlier ones') up in the messaging log."""
    done = progress.done()
    open_ = {k: done[k] for k in unique if ambiguity.marker(done.get(k)) == ambiguity.AMBIGUOUS}
    if not open_:
        return
    since = ambiguity.window_start(open_.values(), hook.settings.timeout)
    bodies = {k: build(unique[k]).json for k in open_}
    attempted = {k: ambiguity.not_before(v, hook.settings.timeout) for k, v in open_.items()}
    try:
        found = ambiguity.reconcile_messages(hook, bodies, since, attempted)
    except VotelError as exc:
        # The log could not be read: the recipients stay ambiguous and are reported as such.
        log.warning("%s: could not read the messaging log to reconcile: %s", name, exc)
        return
    for k, message_id in found.items():
        progress.record(k, message_id)
    tally.reconciled = len(found)
    log.info(
        "%s: %d of %d ambiguous sends found in the messaging log (sent once); %d remain ambiguous",
        name, len(found), len(open_), len(open_) - len(found),
    )  # fmt: skip


def _fate(done: Mapping[str, Any], key: str) -> str:
    """What the progress says became of one recipient: :data:`SENT`, :data:`REFUSED`,
    :data:`AMBIGUOUS` (pending included) or :data:`UNSENT` (no record, or surely no effect)."""
    if key not in done:
        return UNSENT
    value = done[key]
    mark = ambiguity.marker(value)
    if mark == ambiguity.UNSENT:
        return UNSENT
    if mark is not None:
        return AMBIGUOUS
    if isinstance(value, Mapping) and "error" in value:
        return REFUSED
    return SENT


def _others(fates: Counter[str]) -> str:
    """The refused and ambiguous counts, as an error states them beside the sent and the unsent."""
    others = ""
    if fates[REFUSED]:
        others += f"{fates[REFUSED]} refused by the API, "
    if fates[AMBIGUOUS]:
        others += AMBIGUOUS_COUNT.format(n=fates[AMBIGUOUS]) + ", "
    return others


def _stopped_error(
    cause: VotelError, name: str, fates: Counter[str], total: int, caveat: str = ""
) -> VotelError:
    if isinstance(cause, VotelPaymentRequiredError):
        reason, fix = "the wallet ran out", "Top up the wallet, then clear the task"
    elif isinstance(cause, VotelAuthError):
        reason, fix = "the API key was refused", "Fix the connection's API key, then clear the task"
    elif isinstance(cause, VotelInterruptedError):
        reason, fix = "the task was stopped", "Clear the task to go on"
    else:
        reason, fix = (
            "the API refused permission",
            "Check the plan and the key's permissions, then clear the task",
        )
    detail = render_detail(cause.detail) if cause.detail is not None else str(cause)
    message = (
        f"{name}: {fates[SENT]} of {total} sent before {reason} ({detail}); {_others(fates)}"
        f"{fates[UNSENT]} not sent. {fix}: a retry sends only to the {fates[UNSENT]} not sent.{caveat}"
    )
    return type(cause)(
        message, status_code=cause.status_code, detail=cause.detail, method=cause.method, path=cause.path
    )


def _summary(
    unique: Mapping[str, Recipient],
    done: Mapping[str, Any],
    invalid: Sequence[Any],
    resumed: int,
    tally: _Tally,
    recipients: Sequence[Recipient],
) -> dict[str, Any]:
    ids = [done[k] for k in unique if isinstance(done.get(k), str)]
    errors = [
        {"recipient": k, "error": v["error"]}
        for k, v in done.items()
        if k in unique and isinstance(v, dict) and "error" in v
    ]
    unresolved = [k for k in unique if ambiguity.marker(done.get(k)) == ambiguity.AMBIGUOUS]
    return {
        "requested": len(recipients) + len(invalid),
        "duplicates": len(recipients) - len(unique),
        "sent": tally.sent,
        "resumed": resumed,
        "skipped_invalid": len(invalid),
        "failed": len(errors),
        "message_ids": ids[:MAX_IDS_IN_XCOM],
        "message_ids_truncated": len(ids) > MAX_IDS_IN_XCOM,
        "results_uri": None,
        "invalid": [str(item) for item in invalid[:MAX_LISTED]],
        "errors": errors[:MAX_LISTED],
        "ambiguous": len(unresolved),
        "ambiguous_recipients": unresolved[: ambiguity.MAX_AMBIGUOUS_LISTED],
        "reconciled": tally.reconciled,
    }


def _write_results(destination: Any, unique: Mapping[str, Recipient], done: Mapping[str, Any]) -> str:
    """Write ``{recipient key: message id}`` atomically, as every file the provider writes."""
    mapping = {k: done[k] for k in unique if isinstance(done.get(k), str)}
    return write_document(destination, json.dumps(mapping, separators=(",", ":")).encode())
