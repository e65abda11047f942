"""What every Votel operator shares: the connection id and one hook per operator instance."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from votel_airflow.compat import BaseOperator

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

#: ``VotelHook.default_conn_name``, spelled out here so parsing a DAG does not import the hook
#: (and its HTTP clients); tests/test_import_cost.py pins that the two agree.
DEFAULT_CONN_ID = "votel_default"


def with_conn_id_templated(fields: Sequence[str]) -> tuple[str, ...]:
    """``fields`` plus ``votel_conn_id``: every operator and sensor templates its connection id, so
    one DAG file can run against the connection a run's params or a variable name."""
    return (*fields, "votel_conn_id") if "votel_conn_id" not in fields else tuple(fields)


class VotelBaseOperator(BaseOperator):
    """Base class of the Votel operators.

    :param votel_conn_id: Airflow connection of type ``votel``. Templated, on every operator.
    """

    template_fields: Sequence[str] = ("votel_conn_id",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.template_fields = with_conn_id_templated(cls.template_fields)

    def __init__(self, *, votel_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.votel_conn_id = votel_conn_id

    @cached_property
    def hook(self) -> VotelHook:
        """The hook, built on first use (never at DAG parse time)."""
        from votel_airflow.hooks.votel import VotelHook

        return VotelHook(self.votel_conn_id)
