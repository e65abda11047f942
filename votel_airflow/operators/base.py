"""What every Votel operator shares: the connection id and one hook per operator instance."""

from __future__ import annotations

from typing import Any

from votel_airflow.compat import BaseOperator
from votel_airflow.task_connection import DEFAULT_CONN_ID, VotelConnectionMixin, with_conn_id_templated

# DEFAULT_CONN_ID and with_conn_id_templated stay importable from here, as before.
__all__ = ["DEFAULT_CONN_ID", "VotelBaseOperator", "with_conn_id_templated"]


class VotelBaseOperator(VotelConnectionMixin, BaseOperator):
    """Base class of the Votel operators.

    :param votel_conn_id: Airflow connection of type ``votel``. Templated, on every operator.
    """

    def __init__(self, *, votel_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.votel_conn_id = votel_conn_id
