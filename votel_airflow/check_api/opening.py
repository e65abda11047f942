"""Open the connection the Airflow way and get the hook that makes every request of the check.

The connection is read as a task would read it (an ``AIRFLOW_CONN_...`` variable, a secrets
backend or the metadata database) and validated by the hook's own settings, so the check sends its
requests under the provider's one request policy: the key header, timeouts, retries, pacing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from votel_airflow.check_api.results import CheckAborted
from votel_airflow.exceptions import VotelConfigurationError

if TYPE_CHECKING:
    from votel_airflow.hooks.votel import VotelHook

CONN_TYPE = "votel"


def open_hook(conn_id: str) -> VotelHook:
    """A hook on ``conn_id`` with its settings validated; :class:`CheckAborted` when unusable.

    :param conn_id: the Airflow connection id.
    """
    from votel_airflow.compat import AirflowNotFoundException
    from votel_airflow.hooks.votel import VotelHook

    hook = VotelHook(conn_id)
    try:
        conn = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise CheckAborted(
            f"connection {conn_id!r} does not exist: create it (Admin > Connections) or set "
            f"AIRFLOW_CONN_{conn_id.upper()}, or name another with --conn-id"
        ) from None
    except Exception as exc:  # a secrets backend or the metadata database may fail in many ways
        raise CheckAborted(f"connection {conn_id!r} could not be read: {type(exc).__name__}") from None
    if conn.conn_type != CONN_TYPE:
        raise CheckAborted(
            f"connection {conn_id!r} is of type {conn.conn_type!r}, not {CONN_TYPE!r}: "
            "name a Votel connection with --conn-id"
        )
    try:
        hook.settings  # noqa: B018  (validates the fields before any request)
    except VotelConfigurationError as exc:
        raise CheckAborted(str(exc)) from None
    return hook
