"""Workflow sensors: wait for contacts to finish a workflow, and for a campaign to complete.

The conditions, shared with the operators that enroll contacts and start campaigns, are in
:mod:`votel_airflow.conditions.workflows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.workflows import (
    CAMPAIGN_SUMMARY_FIELDS,
    DEFAULT_ENROLLMENT_FAIL_ON,
    FINISHED_ENROLLMENT_STATUSES,
    PER_CONTACT_MAX,
    CampaignCondition,
    WorkflowEnrollmentCondition,
    campaign_summary,
    contact_ids_from,
    require_enrollment_fail_on,
)
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import require_id

# The conditions and their helpers were defined here before they moved to
# votel_airflow.conditions.workflows: deferred tasks serialized earlier name this module.
__all__ = [
    "CAMPAIGN_SUMMARY_FIELDS",
    "FINISHED_ENROLLMENT_STATUSES",
    "PER_CONTACT_MAX",
    "CampaignCondition",
    "CampaignSensor",
    "WorkflowEnrollmentCondition",
    "WorkflowEnrollmentSensor",
    "campaign_summary",
    "contact_ids_from",
    "require_enrollment_fail_on",
]


class WorkflowEnrollmentSensor(VotelSensor):
    """Wait until the given contacts have finished a workflow; return them grouped by final status.

    Returns ``{"completed": [...], "exited": [...], "failed": [...]}`` (contact ids). A contact
    not enrolled yet keeps the wait going (until ``timeout``).

    :param workflow_id: the workflow. Templated.
    :param contact_ids: one contact id, a list, or ``EnrollContactOperator``'s result (its enrolled
        and already enrolled contacts). Templated; an XComArg is accepted.
    :param fail_on: finished statuses that fail the task (default ``["failed"]``; ``[]`` never fails).
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's poll interval).
    :param timeout: seconds to wait before failing (separate from ``execution_timeout``).
    """

    template_fields: Sequence[str] = ("workflow_id", "contact_ids")

    def __init__(
        self,
        *,
        workflow_id: str,
        contact_ids: Any,
        fail_on: Sequence[str] = DEFAULT_ENROLLMENT_FAIL_ON,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.contact_ids = contact_ids
        self.fail_on = require_enrollment_fail_on(fail_on)

    def condition(self, context: Any) -> WorkflowEnrollmentCondition:
        return WorkflowEnrollmentCondition(
            require_id("workflow_id", self.workflow_id), contact_ids_from(self.contact_ids), self.fail_on
        )


class CampaignSensor(VotelSensor):
    """Wait until a campaign completes; return its id, status and stats.

    :param campaign_id: the campaign. Templated.
    :param fail_on_paused: fail the task when the campaign is paused, instead of waiting for it
        to resume and complete.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's poll interval).
    :param timeout: seconds to wait before failing (separate from ``execution_timeout``).
    """

    template_fields: Sequence[str] = ("campaign_id",)

    def __init__(self, *, campaign_id: str, fail_on_paused: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_id = campaign_id
        self.fail_on_paused = bool(fail_on_paused)

    def condition(self, context: Any) -> CampaignCondition:
        return CampaignCondition(require_id("campaign_id", self.campaign_id), self.fail_on_paused)
