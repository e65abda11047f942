"""Contacts: the waits for contact import and export jobs, shared by the sensors and the operators
that start the jobs (``UpsertContactsOperator``, ``ContactExportOperator``), so both judge a job the
same way."""

from __future__ import annotations

from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition

#: Job states after which a job never changes again.
JOB_DONE = "completed"
JOB_FAILED = "failed"
#: Failed rows kept per job in a condition's value: an XCom and a trigger event must stay small.
MAX_FAILED_ROWS_SHOWN = 100


def trimmed_job(job: dict[str, Any], keep: int = MAX_FAILED_ROWS_SHOWN) -> dict[str, Any]:
    """The job with at most ``keep`` failed rows, and their full count in ``failed_count``.

    :param job: an import job as ``GET /contacts/imports/{id}`` answers it.
    :param keep: failed rows to keep.
    """
    failed_rows = job.get("failed_rows") or []
    return {**job, "failed_rows": list(failed_rows[:keep]), "failed_count": len(failed_rows)}


def _job_failure(kind: str, job: dict[str, Any]) -> str:
    reason = job.get("detail") or job.get("error") or "no reason given"
    return f"contact {kind} {job.get('id')} failed: {reason}"


class ContactImportsCondition(Condition):
    """Every one of the given contact import jobs has completed; any failed job fails the wait.

    The value is the list of jobs (in the order given), each trimmed by :func:`trimmed_job`.

    :param import_ids: ids of the import jobs.
    """

    def __init__(self, *, import_ids: list[str]) -> None:
        super().__init__(import_ids=list(import_ids))
        self.import_ids = list(import_ids)

    def fetches(self) -> list[conditions.Fetch]:
        return [
            conditions.Fetch(endpoints.path(endpoints.CONTACT_IMPORT, import_id=i)) for i in self.import_ids
        ]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        jobs = [answer if isinstance(answer, dict) else {} for answer in answers]
        for job in jobs:
            if job.get("status") == JOB_FAILED:
                return conditions.Verdict(True, failed=True, message=_job_failure("import", job))
        finished = sum(job.get("status") == JOB_DONE for job in jobs)
        if finished < len(jobs):
            return conditions.Verdict(
                False, message=f"{finished} of {len(jobs)} contact import job(s) completed"
            )
        return conditions.Verdict(
            True,
            message=f"{len(jobs)} contact import job(s) completed",
            value=[trimmed_job(job) for job in jobs],
        )


class ContactImportCondition(ContactImportsCondition):
    """One contact import job has completed (a failed job fails the wait); the value is the job.

    :param import_id: id of the import job.
    """

    def __init__(self, *, import_id: str) -> None:
        super().__init__(import_ids=[import_id])
        self.kwargs = {"import_id": import_id}

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        verdict = super().evaluate(answers)
        if verdict.done and not verdict.failed:
            return conditions.Verdict(True, message=verdict.message, value=verdict.value[0])
        return verdict


class ContactExportCondition(Condition):
    """A contact export job has completed (a failed job fails the wait); the value is the job.

    :param export_id: id of the export job.
    """

    def __init__(self, *, export_id: str) -> None:
        super().__init__(export_id=export_id)
        self.export_id = export_id

    def fetches(self) -> list[conditions.Fetch]:
        return [conditions.Fetch(endpoints.path(endpoints.CONTACT_EXPORT, export_id=self.export_id))]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        job = answers[0] if isinstance(answers[0], dict) else {}
        status = job.get("status")
        if status == JOB_FAILED:
            return conditions.Verdict(True, failed=True, message=_job_failure("export", job))
        if status == JOB_DONE:
            return conditions.Verdict(True, message=f"contact export {self.export_id} completed", value=job)
        return conditions.Verdict(False, message=f"contact export {self.export_id} is {status}")
