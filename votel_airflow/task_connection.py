"""What every Votel operator and sensor shares: a templated ``votel_conn_id`` and one hook each.

Both :class:`~votel_airflow.operators.base.VotelBaseOperator` and
:class:`~votel_airflow.sensors.base.VotelSensor` mix this in, so neither layer imports the other
for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cached_property
from typing import TYPE_CHECKING, Any

from votel_airflow.defaults import DEFAULT_CONN_ID
from votel_airflow.exceptions import VotelInterruptedError

if TYPE_CHECKING:
    # The hook (and its HTTP clients) is needed only when a task runs, not when a DAG is parsed.
    from votel_airflow.hooks.votel import VotelHook

__all__ = ["DEFAULT_CONN_ID", "VotelConnectionMixin", "with_conn_id_templated"]


def with_conn_id_templated(fields: Collection[str]) -> tuple[str, ...]:
    """``fields`` plus ``votel_conn_id``: every operator and sensor templates its connection id, so
    one DAG file can run against the connection a run's params or a variable name."""
    return (*fields, "votel_conn_id") if "votel_conn_id" not in fields else tuple(fields)


class VotelConnectionMixin:
    """``votel_conn_id`` templated on every subclass, and the sync hook built once, on first use.

    The ``votel_conn_id`` argument itself stays in each base's ``__init__``: Airflow fills a DAG's
    ``default_args`` only into the arguments of an ``__init__`` its operator metaclass wrapped.
    """

    # Declared, not set: each class gets its own tuple from __init_subclass__ (BaseOperator's () first).
    template_fields: Collection[str]
    votel_conn_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.template_fields = with_conn_id_templated(cls.template_fields)

    @cached_property
    def hook(self) -> VotelHook:
        """The hook, built on first use (never at DAG parse time)."""
        from votel_airflow.hooks.votel import VotelHook

        return VotelHook(self.votel_conn_id)

    def on_kill(self) -> None:
        """End the waits of the task's hook at once (see
        :meth:`~votel_airflow.hooks.votel.VotelHook.interrupt`): a killed task must end within
        Airflow's ``killed_task_cleanup_time``, not after another caller's ``Retry-After``.
        Subclasses that started something remote call this first, then stop it with
        :meth:`stop_once`."""
        # Airflow runs on_kill from the SIGTERM handler, which may have stopped the task between
        # a start request leaving and its answer: what that request started is not known yet, and
        # is stopped when the answer comes (stop_if_killed).
        self.__dict__["_votel_killed"] = True
        hook = self.__dict__.get("hook")  # never built here: nothing to interrupt if never used
        if hook is not None:
            hook.interrupt()

    def forget_kill(self) -> None:
        """Start a run afresh: an operator object may run more than once (``dag.test()`` retries)."""
        self.__dict__["_votel_killed"] = False
        self.__dict__["_votel_stopped"] = set()

    def stop_once(self, object_id: str, stop: Callable[[], object]) -> None:
        """Call ``stop`` for ``object_id`` (a call, a campaign, an import job) unless this run has."""
        stopped: set[str] = self.__dict__.setdefault("_votel_stopped", set())
        if object_id not in stopped:
            stopped.add(object_id)
            stop()

    def stop_if_killed(self, object_id: str, stop: Callable[[], object], what: str) -> None:
        """Called right after a request that started ``object_id`` answered: when :meth:`on_kill`
        ran while that request was on the wire, it had nothing to stop; stop it now and end.

        :raises VotelInterruptedError: the task was being killed; ``object_id`` has been stopped.
        """
        if self.__dict__.get("_votel_killed"):
            self.stop_once(object_id, stop)
            raise VotelInterruptedError(
                f"{what} {object_id} was started by a request that was on the wire when the task was "
                "killed; it has been stopped"
            )
