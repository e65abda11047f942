"""Workflows: the waits for contacts to finish a workflow and for a campaign to complete, and the
campaign's XCom summary, shared by the sensors and the operators that enroll and start.

An enrollment wait reads enrollment lists, not one enrollment per request: up to
:data:`PER_CONTACT_MAX` contacts are looked up by ``contact_id`` (one short list each); beyond
that one paged read of the workflow's enrollments (500 per page) answers for every contact at
once, so 1,000 contacts cost a few requests per round rather than 1,000.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.exceptions import VotelServerError
from votel_airflow.validation import as_str_list, fail, require_subset

#: Enrollment statuses after which a contact has finished the workflow.
FINISHED_ENROLLMENT_STATUSES = frozenset({"completed", "exited", "failed"})
DEFAULT_ENROLLMENT_FAIL_ON: tuple[str, ...] = ("failed",)
#: Up to this many contacts, ask per contact; beyond, read the workflow's whole enrollment list.
PER_CONTACT_MAX = 20
CAMPAIGN_SUMMARY_FIELDS = ("id", "name", "status", "stats", "started_at", "completed_at")


def require_enrollment_fail_on(value: Any) -> list[str]:
    """``fail_on`` as a sorted list of finished enrollment statuses."""
    fix = "Pass e.g. ['failed', 'exited'], or [] to never fail on a contact's status."
    what = "finished enrollment statuses"
    return require_subset("fail_on", value, FINISHED_ENROLLMENT_STATUSES, what=what, fix=fix)


def contact_ids_from(value: Any) -> list[str]:
    """Contact ids from one id, a list, or ``EnrollContactOperator``'s result (enrolled ones).

    That result lists at most 1,000 ids per outcome; when it was cut (``truncated``), every id is
    read from its ``results_uri``, and without one the wait refuses to watch only some contacts.
    """
    if isinstance(value, Mapping):
        lists = _full_enrollment(value) if value.get("truncated") else value
        value = [*lists.get("enrolled", []), *lists.get("already_enrolled", [])]
    ids = list(dict.fromkeys(as_str_list("contact_ids", value)))
    if not ids:
        raise fail("contact_ids", value, "is empty", "Pass the ids of the enrolled contacts.")
    return ids


def _full_enrollment(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """Every list of an enrollment result whose XCom copy was cut, from its results file."""
    uri = result.get("results_uri")
    if not uri:
        enrolled = int(result.get("enrolled_count") or 0) + int(result.get("already_enrolled_count") or 0)
        raise fail(
            "contact_ids",
            f"an enrollment result of {enrolled} contacts",
            "lists only the first 1,000 ids of each outcome, and has no results_uri to read the rest from",
            "Set results_destination on the EnrollContactOperator, or pass the contact ids themselves.",
        )
    from votel_airflow.destinations import as_storage_path  # fsspec: not at DAG parse time

    with as_storage_path("results_uri", uri).open("rb") as stream:  # type: ignore[no-untyped-call]
        lists = json.loads(stream.read())
    if not isinstance(lists, Mapping):
        raise fail("contact_ids", uri, "is not an enrollment results file", "Point it at results_uri.")
    return lists


def campaign_summary(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign's id, name, status and stats, as returned to XCom."""
    return {name: campaign.get(name) for name in CAMPAIGN_SUMMARY_FIELDS}


def _latest_status(enrollments: Iterable[Any]) -> dict[str, str]:
    """``{contact_id: status}`` of each contact's most recent enrollment."""
    latest: dict[str, tuple[str, str]] = {}
    for enrollment in enrollments:
        if not isinstance(enrollment, Mapping) or not isinstance(enrollment.get("status"), str):
            raise VotelServerError("an enrollment list answered an item without a status")
        contact_id = str(enrollment.get("contact_id"))
        enrolled_at = str(enrollment.get("enrolled_at") or "")
        # A contact that exited can be enrolled again: only its newest enrollment counts.
        if contact_id not in latest or enrolled_at >= latest[contact_id][0]:
            latest[contact_id] = (enrolled_at, enrollment["status"])
    return {contact_id: status for contact_id, (_, status) in latest.items()}


class WorkflowEnrollmentCondition(Condition):
    """Each contact's newest enrollment in the workflow has finished (completed, exited or failed).

    A contact without an enrollment yet counts as pending: a workflow triggered by an event may
    enroll it later. A finished status listed in ``fail_on`` fails the wait at once.

    :param workflow_id: the workflow.
    :param contact_ids: the contacts to watch.
    :param fail_on: finished statuses that fail the wait.
    """

    def __init__(
        self,
        workflow_id: str,
        contact_ids: Sequence[str],
        fail_on: Sequence[str] = DEFAULT_ENROLLMENT_FAIL_ON,
    ) -> None:
        super().__init__(workflow_id=workflow_id, contact_ids=list(contact_ids), fail_on=list(fail_on))
        self.workflow_id = workflow_id
        self.contact_ids = list(contact_ids)
        self.fail_on = frozenset(fail_on)

    def fetches(self) -> list[conditions.Fetch]:
        path = endpoints.path(endpoints.WORKFLOW_ENROLLMENTS, workflow_id=self.workflow_id)
        if len(self.contact_ids) <= PER_CONTACT_MAX:
            return [conditions.Fetch(path, {"contact_id": c}, all_pages=True) for c in self.contact_ids]
        return [conditions.Fetch(path, all_pages=True)]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        statuses = _latest_status(item for answer in answers for item in answer)
        by_status: dict[str, list[str]] = {s: [] for s in sorted(FINISHED_ENROLLMENT_STATUSES)}
        active: list[str] = []
        missing: list[str] = []
        for contact_id in self.contact_ids:
            status = statuses.get(contact_id)
            if status is None:
                missing.append(contact_id)
            elif status in by_status:
                by_status[status].append(contact_id)
            else:
                active.append(contact_id)
        failing = [c for s in sorted(self.fail_on) for c in by_status[s]]
        total = len(self.contact_ids)
        if failing:
            return conditions.Verdict(
                done=True,
                failed=True,
                message=f"{len(failing)} of {total} contacts ended the workflow {self.workflow_id} as "
                f"{sorted(self.fail_on)}: {failing[:20]}",
                value=by_status,
            )
        counts = ", ".join(f"{len(ids)} {status}" for status, ids in by_status.items())
        if active or missing:
            return conditions.Verdict(
                done=False,
                message=f"workflow {self.workflow_id}: {len(active)} active, {len(missing)} not enrolled "
                f"yet, {counts} (of {total})",
            )
        return conditions.Verdict(
            done=True, message=f"workflow {self.workflow_id}: all finished: {counts}", value=by_status
        )


class CampaignCondition(Condition):
    """A campaign completed; with ``fail_on_paused`` a paused campaign fails the wait.

    :param campaign_id: the campaign.
    :param fail_on_paused: a paused campaign fails the wait instead of being waited out.
    """

    def __init__(self, campaign_id: str, fail_on_paused: bool = False) -> None:
        super().__init__(campaign_id=campaign_id, fail_on_paused=fail_on_paused)
        self.campaign_id = campaign_id
        self.fail_on_paused = fail_on_paused

    def fetches(self) -> list[conditions.Fetch]:
        return [conditions.Fetch(endpoints.path(endpoints.CAMPAIGN, campaign_id=self.campaign_id))]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        campaign = answers[0]
        status = conditions.answered_status(campaign, f"GET campaign {self.campaign_id}")
        summary = campaign_summary(campaign)
        if status == "completed":
            return conditions.Verdict(
                done=True, message=f"campaign {self.campaign_id} completed", value=summary
            )
        if status == "paused" and self.fail_on_paused:
            return conditions.Verdict(
                done=True,
                failed=True,
                message=f"campaign {self.campaign_id} is paused (fail_on_paused=True)",
                value=summary,
            )
        return conditions.Verdict(
            done=False, message=f"campaign {self.campaign_id} is {status}: {campaign.get('stats')}"
        )
