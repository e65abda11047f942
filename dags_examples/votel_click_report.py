"""Click report: every day, clicks and conversions per tracking link, written as a CSV report.

Shows two extractors of the click-tracking section writing the day's raw clicks and conversions to
files (Assets), and a small task that joins them per link into a report file. The window is the
run's data interval, so a rerun or backfill of a day rewrites the same report.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

# In airflow.sdk only from Airflow 3.2; the provider's compat module finds it on 3.0 and 3.1 too.
from votel_airflow.compat import CronDataIntervalTimetable
from votel_airflow.operators.click_tracking import ClickExtractOperator, ConversionExtractOperator
from votel_airflow.operators.settings import VotelListOperator

# The Votel connection is a run-time param (every operator and sensor templates `votel_conn_id`);
# $VOTEL_CONN_ID, read once at parse time (no I/O), only sets its default.
DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
DATA_DIR = os.environ.get("VOTEL_DATA_DIR", "/tmp/votel-data")
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
DAY = "{{ data_interval_start | ds }}"
REPORT_COLUMNS = ("day", "link_id", "link_name", "clicks", "conversions", "conversion_value")

CLICKS = Asset(name="votel_clicks", uri=f"file://{DATA_DIR}/clicks/")
CONVERSIONS = Asset(name="votel_conversions", uri=f"file://{DATA_DIR}/conversions/")
REPORT = Asset(name="votel_click_report", uri=f"file://{DATA_DIR}/click_report/")

with DAG(
    dag_id="votel_click_report",
    description="Daily clicks and conversions per tracking link into a CSV report.",
    schedule=CronDataIntervalTimetable("30 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["votel", "example", "etl", "click-tracking"],
    default_args={
        # Safe to retry: every file is rewritten atomically for the same window.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "data_dir": Param(DATA_DIR, type="string", description="Folder (or URL) for the files."),
    },
    doc_md=__doc__
    + """
### Parameters
- `data_dir`: where the files go (default `$VOTEL_DATA_DIR`, else `/tmp/votel-data`):
  `clicks/<day>.jsonl`, `conversions/<day>.jsonl` and the report `click_report/<day>.csv` with
  the columns `day, link_id, link_name, clicks, conversions, conversion_value`.

The Votel connection is the `votel_conn_id` param (default `votel_default`, or `$VOTEL_CONN_ID`).
""",
) as dag:
    # --8<-- [start:report]
    clicks = ClickExtractOperator(
        task_id="extract_clicks",
        votel_conn_id=VOTEL_CONN_ID,
        destination="{{ params.data_dir }}/clicks/" + DAY + ".jsonl",
        outlets=[CLICKS],
    )
    conversions = ConversionExtractOperator(
        task_id="extract_conversions",
        votel_conn_id=VOTEL_CONN_ID,
        destination="{{ params.data_dir }}/conversions/" + DAY + ".jsonl",
        outlets=[CONVERSIONS],
    )
    links = VotelListOperator(
        task_id="list_tracking_links", votel_conn_id=VOTEL_CONN_ID, resource="tracking_links"
    )

    @task(outlets=[REPORT])
    def write_report(
        clicks: dict[str, Any],
        conversions: dict[str, Any],
        links: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        data_interval_start: Any = None,
    ) -> dict[str, Any]:
        """Count the day's clicks and conversions per link and write them as CSV, atomically."""
        import csv
        import io
        import json
        from collections import Counter, defaultdict

        from airflow.sdk import ObjectStoragePath

        def rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
            # read(), not iteration: Airflow 3.0's file wrapper cannot be iterated line by line.
            with ObjectStoragePath(manifest["uri"]).open("r") as stream:
                return [json.loads(line) for line in stream.read().splitlines() if line.strip()]

        click_count = Counter(row["link_id"] for row in rows(clicks))
        conversion_count: Counter[str] = Counter()
        value: defaultdict[str, float] = defaultdict(float)
        for row in rows(conversions):
            conversion_count[row["link_id"]] += 1
            value[row["link_id"]] += float(row.get("value") or 0)
        names = {str(link["id"]): str(link.get("name", "")) for link in links}
        day = data_interval_start.strftime("%Y-%m-%d")
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        for link_id in sorted(set(names) | set(click_count) | set(conversion_count)):
            writer.writerow(
                (day, link_id, names.get(link_id, ""), click_count[link_id], conversion_count[link_id],
                 f"{value[link_id]:.2f}")
            )  # fmt: skip
        root = str((params or {})["data_dir"]).rstrip("/")
        folder = ObjectStoragePath(root if "://" in root else f"file://{root}") / "click_report"
        folder.mkdir(parents=True, exist_ok=True)
        report = folder / f"{day}.csv"
        # A reader never sees half a report. On a file system it is written beside the report,
        # then renamed; an object store (s3://, gs://) publishes one upload whole, and a rename
        # there would be a copy that shows the temporary object, so it goes straight to its key.
        if report.protocol in ("", "file", "local"):
            tmp = folder / f".{day}.csv.tmp"
            tmp.write_text(text.getvalue())
            tmp.rename(report)
        else:
            report.write_text(text.getvalue())
        return {
            "uri": str(report),
            "links": len(names),
            "clicks": sum(click_count.values()),
            "conversions": sum(conversion_count.values()),
        }

    write_report(clicks.output, conversions.output, links.output)
    # --8<-- [end:report]
