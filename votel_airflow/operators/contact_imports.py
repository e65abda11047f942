"""Bulk upsert of contacts through import jobs, resumable and exactly once per chunk.

The rows are cut into chunks (:mod:`.contact_sources`), each posted as one import job. The id of
every job created is recorded in the task state store before the next chunk is posted, so a
retried task re-attaches to the jobs it already created instead of importing the rows again; each
POST also carries an idempotency key derived from the task instance and the chunk number, for a
server that honours it. Then the task waits for every job (polling, or deferred to the
triggerer) and merges their results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from votel_airflow import endpoints
from votel_airflow.compat import AirflowException, conf
from votel_airflow.conditions.contacts import MAX_FAILED_ROWS_SHOWN, ContactImportsCondition
from votel_airflow.defaults import MATCH_ON
from votel_airflow.delivery.idempotency import TaskProgress, idempotency_key
from votel_airflow.exceptions import (
    TooManyFailedRowsError as TooManyFailedRowsError,  # old home, kept one release
)
from votel_airflow.exceptions import VotelServerError, VotelTooManyFailedRowsError
from votel_airflow.lineage import CONTACTS_DATASET, Lineage, LineageMixin, api_dataset, storage_dataset
from votel_airflow.links import VotelObjectLink, record_link
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.validation import fail, require_choice, require_int
from votel_airflow.waiting import result_from_event, wait_for

# Reading the rows (contact_sources) is only needed when the task runs: that module is imported in
# the methods that use it, not when a DAG is parsed.

#: Rows per import job: big enough that 100,000 rows are 20 jobs, small enough that one job's
#: ``failed_rows`` and a retry's re-import stay cheap. The API accepts up to 50,000.
DEFAULT_CHUNK_SIZE = 5_000
MAX_CHUNK_SIZE = 50_000
#: Encoded bytes per import request: under the API's 1 MiB body limit, with room for the envelope.
MAX_CHUNK_BYTES = 900_000
#: Failures quoted in the error when too many rows fail.
FAILURES_IN_MESSAGE = 10
PROGRESS_NAME = "contact_imports"
#: XCom key of the chunks (job ids and row offsets) while the task waits deferred.
CHUNKS_XCOM_KEY = "import_chunks"


def merge_results(chunks: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of the chunks' jobs; failed rows renumbered from the start of the whole input.

    :param chunks: ``{"import_id", "first_row", "rows"}`` per chunk, in input order.
    :param jobs: the finished jobs, in the same order (trimmed by the condition).
    """
    failed_rows: list[dict[str, Any]] = []
    failed = 0
    for chunk, job in zip(chunks, jobs, strict=True):
        failed += int(job.get("failed_count", len(job.get("failed_rows") or [])))
        for item in job.get("failed_rows") or []:
            if len(failed_rows) < MAX_FAILED_ROWS_SHOWN:
                failed_rows.append({"row": chunk["first_row"] + int(item["row"]), "detail": item["detail"]})
    return {
        "rows": sum(int(chunk["rows"]) for chunk in chunks),
        "created": sum(int(job.get("created") or 0) for job in jobs),
        "updated": sum(int(job.get("updated") or 0) for job in jobs),
        "failed": failed,
        "failed_rows": failed_rows,
        "job_ids": [chunk["import_id"] for chunk in chunks],
    }


class UpsertContactsOperator(LineageMixin, VotelBaseOperator):
    """Create or update contacts in bulk through import jobs, wait for them, and report per row.

    Give the contacts as ``records`` (a list of dicts, or an upstream task's output) or as a
    ``source`` file: JSON lines (one contact object per line) or CSV (a header row; ``tags`` cells
    split on ``;``; ``custom_fields.<key>`` columns go into ``custom_fields``), optionally gzipped.
    A file is streamed: it is read once to check every line parses (so a bad line fails the task
    before anything is imported), then again to send it chunk by chunk.

    Each chunk of at most ``chunk_size`` rows (and under 1 MiB) becomes one import job. Job ids are
    recorded in the task state store as they are created, so a retry re-attaches to them rather
    than importing the same rows again.

    Returns ``{"rows", "created", "updated", "failed", "failed_rows", "job_ids"}``: ``failed`` is
    the number of rows the API refused and ``failed_rows`` the first 100 of them as
    ``{"row", "detail"}``, ``row`` counted from 0 over the whole input (the n-th record, JSON line
    or CSV data row). With ``wait_for_completion=False`` it returns ``{"rows", "job_ids"}`` at once.

    :param records: the contacts, e.g. ``[{"first_name": "Ada", "phone": "+14155552671"}]``; an
        XComArg works. Templated. Give this or ``source``.
    :param source: a JSONL or CSV file: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated.
    :param source_format: ``"jsonl"`` or ``"csv"``; default from the file name.
    :param match_on: ``"phone"`` or ``"email"``: the field that finds an existing contact to update.
    :param max_failed_rows: the most refused rows tolerated; more fail the task, quoting the first
        refusals (default 0: any refused row fails it).
    :param chunk_size: rows per import job, 1 to 50,000.
    :param wait_for_completion: wait for the jobs and report their results (default True).
    :param deferrable: wait in the triggerer instead of a worker slot (default:
        ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks of the jobs.
    :param timeout: seconds to wait for the jobs before failing (a retry re-attaches to them).
    :param cancel_on_timeout: cancel the jobs still running when that wait times out (default
        False: a retry re-attaches to them and picks up their results).
    :param votel_conn_id: Airflow connection of type ``votel``.

    Killing the task while it runs (marked failed, or past its ``execution_timeout``) cancels the
    import jobs it created or re-attached to that have not finished (:meth:`on_kill`); rows a job
    already applied stay.
    """

    template_fields: Sequence[str] = ("records", "source")
    operator_extra_links = (VotelObjectLink(),)
    ui_color = "#e6f7ee"

    def __init__(
        self,
        *,
        records: Any = None,
        source: Any = None,
        source_format: str | None = None,
        match_on: str = "phone",
        max_failed_rows: int = 0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 5.0,
        timeout: float = 3600.0,
        cancel_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (records is None) == (source is None):
            raise fail(
                "records",
                records,
                "give exactly one of records or source",
                "Pass records=[...] or source=path.",
            )
        self.records = records
        self.source = source
        self.source_format = source_format
        self.match_on = require_choice("match_on", match_on, MATCH_ON)
        self.max_failed_rows = require_int("max_failed_rows", max_failed_rows, low=0, high=10**9)
        self.chunk_size = require_int("chunk_size", chunk_size, low=1, high=MAX_CHUNK_SIZE)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poke_interval = float(poke_interval)
        self.timeout = float(timeout)
        self.cancel_on_timeout = bool(cancel_on_timeout)
        #: The jobs this task created or re-attached to, while it runs: what :meth:`on_kill` cancels.
        self.import_ids: list[str] = []

    def _rows(self) -> Callable[[], Iterator[dict[str, Any]]]:
        """Validate the input and return a callable giving a fresh iterator over its rows."""
        from votel_airflow.operators.contact_sources import (
            as_records,
            as_source,
            iter_source_rows,
            source_format,
        )

        if self.records is not None:
            records = as_records("records", self.records)
            return lambda: iter(records)
        path = as_source(self.source)
        fmt = source_format(path, self.source_format)
        count = sum(1 for _ in iter_source_rows(path, fmt))
        self.log.info("%s holds %d contact row(s) (%s)", path, count, fmt)
        return lambda: iter_source_rows(path, fmt)

    def _create_jobs(
        self, context: Any, rows: Callable[[], Iterator[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        from votel_airflow.operators.contact_sources import chunked

        progress = TaskProgress(context, PROGRESS_NAME)
        done = progress.done()
        chunks: list[dict[str, Any]] = []
        self.import_ids = []  # an operator object may run more than once (dag.test())
        self.forget_kill()
        try:
            for number, (first_row, chunk) in enumerate(chunked(rows(), self.chunk_size, MAX_CHUNK_BYTES)):
                key = str(number)
                if key in done:
                    chunks.append(self._reattached(number, done[key], first_row, len(chunk)))
                    self.import_ids.append(chunks[-1]["import_id"])
                    continue
                job = self.hook.upsert_contacts(
                    chunk, self.match_on, idempotency_key=idempotency_key(context, "import", key)
                )
                if not isinstance(job, dict) or not job.get("id"):
                    raise VotelServerError(
                        f"POST {endpoints.CONTACT_IMPORTS} answered without a job id: {job!r:.200}",
                        method="POST",
                        path=endpoints.CONTACT_IMPORTS,
                    )
                entry = {"import_id": str(job["id"]), "first_row": first_row, "rows": len(chunk)}
                self.import_ids.append(str(job["id"]))
                progress.record(key, entry)
                # A job is a big side effect: make it durable before posting the next one.
                progress.flush()
                self.stop_if_killed(job_id := str(job["id"]), partial(self._stop_job, job_id), "import job")
                chunks.append(entry)
                self.log.info(
                    "Chunk %d (rows %d+%d): import job %s", number, first_row, len(chunk), job["id"]
                )
        finally:
            progress.flush()
        return chunks

    def _reattached(self, number: int, entry: dict[str, Any], first_row: int, rows: int) -> dict[str, Any]:
        if (entry.get("first_row"), entry.get("rows")) != (first_row, rows):
            self.log.warning(
                "Chunk %d now starts at row %d with %d rows, but a previous try imported it from row %s "
                "with %s rows: the input changed between tries",
                number, first_row, rows, entry.get("first_row"), entry.get("rows"),
            )  # fmt: skip
        self.log.info(
            "Chunk %d: re-attaching to import job %s from a previous try", number, entry["import_id"]
        )
        return dict(entry)

    def execute(self, context: Any) -> dict[str, Any]:
        rows = self._rows()
        chunks = self._create_jobs(context, rows)
        if len(chunks) == 1:
            record_link(context, self.hook.settings.base_url, "import", chunks[0]["import_id"])
        if not self.wait_for_completion:
            return {"rows": sum(c["rows"] for c in chunks), "job_ids": [c["import_id"] for c in chunks]}
        if not chunks:
            self.log.info("No contact rows to import")
            return merge_results([], [])
        condition = ContactImportsCondition(import_ids=[c["import_id"] for c in chunks])
        first = condition.check(self.hook) if self.deferrable else None
        if first is not None and not first.done:
            # Kept in XCom, not in the deferral's kwargs: dag.test() drops those when it resumes.
            context["ti"].xcom_push(key=CHUNKS_XCOM_KEY, value=chunks)
        jobs = wait_for(
            self,
            condition,
            deferrable=self.deferrable,
            poke_interval=self.poke_interval,
            timeout=self.timeout,
            first=first,
            on_timeout=lambda: self._cancel_after_timeout(self.import_ids),
        )
        return self._finish(context, chunks, jobs)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Merge the jobs' results once the trigger reports them finished."""
        chunks = context["ti"].xcom_pull(task_ids=self.task_id, key=CHUNKS_XCOM_KEY)
        if event.get("status") == "timeout":
            waited_on = event.get("value")
            if isinstance(waited_on, dict):
                self._cancel_after_timeout([str(i) for i in waited_on.get("import_ids") or []])
            raise AirflowException(
                f"{self.task_id}: {event.get('message')}; a retry re-attaches to the same jobs"
            )
        return self._finish(context, chunks, result_from_event(self.task_id, event))

    def _lineage(self, applied: int) -> Lineage:
        """The source file (when there is one) in, Votel's contacts out with the rows applied."""
        inputs = []
        if self.source is not None:
            from votel_airflow.operators.contact_sources import as_source

            inputs.append(storage_dataset(str(as_source(self.source))))
        return Lineage(inputs, [api_dataset(self.hook.settings.base_url, CONTACTS_DATASET, rows=applied)])

    def _cancel_after_timeout(self, import_ids: list[str]) -> None:
        if self.cancel_on_timeout:
            self._cancel(import_ids, " (the wait timed out)")

    def _cancel(self, import_ids: list[str], why: str = "") -> None:
        for import_id in import_ids:
            self.stop_once(import_id, partial(self._stop_job, import_id, why))

    def _stop_job(self, import_id: str, why: str = "") -> None:
        from votel_airflow.delivery.kill_switch import stop

        stop(self, f"import job {import_id}{why}", endpoints.CONTACT_IMPORT_CANCEL, import_id=import_id)

    def on_kill(self) -> None:
        """Cancel the import jobs of this task that are still running (Airflow calls this when the
        running task is marked failed or exceeds its ``execution_timeout``)."""
        super().on_kill()
        self._cancel(list(self.import_ids))

    def _finish(
        self, context: Any, chunks: list[dict[str, Any]], jobs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        summary = merge_results(chunks, jobs)
        self.votel_lineage = self._lineage(summary["created"] + summary["updated"])
        self.log.info(
            "Imported %d row(s): %d created, %d updated, %d failed",
            summary["rows"], summary["created"], summary["updated"], summary["failed"],
        )  # fmt: skip
        if summary["failed"] > self.max_failed_rows:
            context["ti"].xcom_push(key="import_summary", value=summary)
            first = "; ".join(
                f"row {f['row']}: {f['detail']}" for f in summary["failed_rows"][:FAILURES_IN_MESSAGE]
            )
            raise VotelTooManyFailedRowsError(
                f"{summary['failed']} of {summary['rows']} contact row(s) were refused, more than "
                f"max_failed_rows={self.max_failed_rows}. First refusals: {first}. Fix the rows or raise "
                "max_failed_rows; the full summary is in the XCom 'import_summary'.",
                summary=summary,
            )
        return summary
