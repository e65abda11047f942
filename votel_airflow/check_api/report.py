"""Show a check's findings: grouped text for people, or one JSON object for scripts."""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

from votel_airflow.check_api.results import FAILED, CheckReport, Mode

_MODE_LINE = {
    Mode.DOCUMENT: "mode: document: compared with the OpenAPI document at {source} (no endpoint called)",
    Mode.PROBING: "mode: probing: sent safe reads only (GETs without ids, limit=1) to {source}",
}
_WIDTH = max(len(status) for status in ("ok", "missing", "differs", "not allowed", "not checked"))


def as_text(report: CheckReport, conn_id: str) -> str:
    """One line per endpoint, grouped by section; the users of each failed one; a summary."""
    lines = [f"votel-check-api: connection {conn_id!r}", _MODE_LINE[report.mode].format(source=report.source)]
    for section, results in groupby(report.results, key=lambda result: result.section):
        lines += ["", section]
        for result in results:
            line = f"  {result.status.value:<{_WIDTH}}  {result.method:<6} {result.path}"
            if result.detail:
                line += f"  ({result.detail})"
            lines.append(line)
            if result.status in FAILED:
                users = report.used_by.get(result.path)
                lines.append(
                    f"  {'':<{_WIDTH}}  used by: {', '.join(users) if users else 'nothing in the provider'}"
                )
    counts = report.counts()
    lines += ["", "summary: " + ", ".join(f"{count} {status}" for status, count in counts.items())]
    if report.failed:
        lines.append(
            "what is named under 'used by' will fail against this API until its paths and the "
            "provider's catalogue (votel_airflow/endpoints.py) agree"
        )
    return "\n".join(lines)


def as_json(report: CheckReport, conn_id: str) -> str:
    """The same findings as one JSON object."""
    document: dict[str, Any] = {
        "conn_id": conn_id,
        "mode": report.mode.value,
        "source": report.source,
        "endpoints": [
            {
                "section": result.section,
                "method": result.method,
                "path": result.path,
                "status": result.status.value,
                "detail": result.detail,
                "used_by": report.used_by.get(result.path, []) if result.status in FAILED else [],
            }
            for result in report.results
        ],
        "summary": report.counts(),
        "exit_status": report.exit_status,
    }
    return json.dumps(document, indent=2)
