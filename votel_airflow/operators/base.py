"""What every Votel operator shares: the connection id and one hook per operator instance."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from votel_airflow.hooks.votel import VotelHook


class VotelBaseOperator(BaseOperator):
    """Base class of the Votel operators.

    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    def __init__(self, *, votel_conn_id: str = VotelHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.votel_conn_id = votel_conn_id

    @cached_property
    def hook(self) -> VotelHook:
        """The hook, built on first use (never at DAG parse time)."""
        return VotelHook(self.votel_conn_id)
