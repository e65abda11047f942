"""Stop the remote work a task started: cancel a call, pause a campaign, cancel an import job.

Airflow calls an operator's ``on_kill`` when its running task is marked failed (UI or REST API:
the supervisor sends SIGTERM) or runs past its ``execution_timeout``; an operator that waited on
what it started calls :func:`stop` when that wait times out and ``cancel_on_timeout`` is set.
Without this, stopping the task would stop nothing in Votel: the call rings on, the campaign
keeps texting.

Stopping never raises: it runs while the task is already failing, and the task's own error is
the one to report. Work that had already ended (409) is logged as such, any other failure as an
error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from votel_airflow import endpoints
from votel_airflow.delivery.idempotency import stop_key

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

#: A killed task has ``[core] killed_task_cleanup_time`` (60 s by default) before SIGKILL: one
#: short try plus one retry fits in it with room to spare.
STOP_TIMEOUT = 10.0
STOP_RETRIES = 1
#: The longest ``Retry-After`` a stop waits before its one retry, in seconds: the API's own wait
#: (up to a minute) would spend the whole of ``killed_task_cleanup_time`` on one stop.
STOP_RETRY_AFTER_MAX = 2.0


class _Stoppable(Protocol):
    votel_conn_id: str

    @property
    def log(self) -> Any: ...


def cancel_call(task: _Stoppable, call_id: str, why: str = "") -> Mapping[str, Any] | None:
    """Cancel a call a task started, through :meth:`~votel_airflow.hooks.votel.VotelHook.cancel_call`
    on a fresh hook; never raises (see :func:`stop`).

    :param task: the operator whose call is canceled.
    :param call_id: the call.
    :param why: said after the call in the log, e.g. ``" (its wait timed out)"``.
    """
    return _stop_with(
        task, f"call {call_id}{why}", lambda hook: hook.cancel_call(call_id), ended_if_none=True
    )


def stop(task: _Stoppable, what: str, template: str, **ids: str) -> Mapping[str, Any] | None:
    """``POST`` one of the kill-switch paths; return the stopped object, or None if nothing was.

    A fresh hook is used, never the task's own: ``on_kill`` runs in a signal handler that may
    have interrupted the task in the middle of a request on the task's session.

    :param task: the operator whose work is stopped (its connection and log are used).
    :param what: the object, for the log, e.g. ``"call 1b2c..."``.
    :param template: :data:`~votel_airflow.endpoints.CALL_CANCEL`,
        :data:`~votel_airflow.endpoints.CAMPAIGN_PAUSE` or
        :data:`~votel_airflow.endpoints.CONTACT_IMPORT_CANCEL`.
    :param ids: the template's placeholders.
    """
    path = endpoints.path(template, **ids)
    return _stop_with(task, what, lambda hook: hook.request("POST", path, idempotency_key=stop_key()))


def _stop_with(
    task: _Stoppable, what: str, send: Callable[[VotelHook], Any], ended_if_none: bool = False
) -> Mapping[str, Any] | None:
    from votel_airflow.exceptions import VotelError
    from votel_airflow.hooks.votel import VotelHook

    # Unpaced: a stop does not queue behind the task's other requests, nor sit out the pause
    # another caller's 429 put on the account; it goes now, and meets a 429 of its own if it must.
    hook = VotelHook(
        task.votel_conn_id,
        timeout=STOP_TIMEOUT,
        max_retries=STOP_RETRIES,
        retry_after_max=STOP_RETRY_AFTER_MAX,
        paced=False,
    )
    try:
        answer = send(hook)
        if answer is None and ended_if_none:
            # cancel_call's answer for a call that had already ended (409).
            task.log.info("Kill switch: %s had already ended, nothing to stop", what)
            return None
    except VotelError as exc:
        if exc.status_code == 409:
            task.log.info("Kill switch: %s had already ended, nothing to stop (%s)", what, exc)
        else:
            task.log.error("Kill switch: could not stop %s: %s", what, exc)
        return None
    except Exception as exc:
        task.log.error("Kill switch: could not stop %s: %s", what, type(exc).__name__)
        return None
    finally:
        hook.close()
    status = answer.get("status") if isinstance(answer, Mapping) else None
    task.log.warning("Kill switch: stopped %s (now %s)", what, status)
    return answer if isinstance(answer, Mapping) else {}
