"""Contacts sensors: wait for a contact import job to finish.

The conditions, shared with the operators that start the jobs, are in
:mod:`votel_airflow.conditions.contacts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.contacts import (
    JOB_DONE,
    JOB_FAILED,
    MAX_FAILED_ROWS_SHOWN,
    ContactExportCondition,
    ContactImportCondition,
    ContactImportsCondition,
    trimmed_job,
)
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import require_id

# The conditions were defined here before they moved to votel_airflow.conditions.contacts:
# deferred tasks serialized earlier name this module, so they stay importable from it.
__all__ = [
    "JOB_DONE",
    "JOB_FAILED",
    "MAX_FAILED_ROWS_SHOWN",
    "ContactExportCondition",
    "ContactImportCondition",
    "ContactImportSensor",
    "ContactImportsCondition",
    "trimmed_job",
]


class ContactImportSensor(VotelSensor):
    """Wait until a contact import job completes; fail if it failed; return the job.

    The returned job keeps at most 100 ``failed_rows`` (``[{row, detail}]``, rows counted from 0)
    and gives their full number in ``failed_count``.

    :param import_id: id of the import job (e.g. from a task that posted ``/contacts/imports``).
        Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait before failing.
    """

    template_fields: Sequence[str] = ("import_id",)

    def __init__(self, *, import_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.import_id = import_id

    def condition(self, context: Any) -> ContactImportCondition:
        return ContactImportCondition(import_id=require_id("import_id", self.import_id))
