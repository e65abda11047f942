"""What every Votel operator shares: the connection id and one hook per operator instance."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

#: ``VotelHook.default_conn_name``, spelled out here so parsing a DAG does not import the hook
#: (and its HTTP clients); tests/test_import_cost.py pins that the two agree.
DEFAULT_CONN_ID = "votel_default"


class VotelBaseOperator(BaseOperator):
    """Base class of the Votel operators.

    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    def __init__(self, *, votel_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.votel_conn_id = votel_conn_id

    @cached_property
    def hook(self) -> VotelHook:
        """The hook, built on first use (never at DAG parse time)."""
        from votel_airflow.hooks.votel import VotelHook

        return VotelHook(self.votel_conn_id)
