"""``votel-check-api``: the command, its options and its exit status."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

from votel_airflow import endpoints
from votel_airflow.check_api.results import CheckAborted, CheckReport, Mode, catalogue
from votel_airflow.defaults import DEFAULT_CONN_ID

#: The check could not run: bad connection, HTML instead of the API, no answer.
EXIT_ABORTED = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="votel-check-api",
        description=(
            "Check that the Votel API behind a connection serves every path the provider uses: from "
            "the service's OpenAPI document when it has one, else by safe reads (GETs only). "
            "Exit status 0 when every checked endpoint matched, 1 when one did not, 2 when the check "
            "could not run."
        ),
    )
    p.add_argument(
        "--conn-id", default=DEFAULT_CONN_ID, help=f"the votel connection (default: {DEFAULT_CONN_ID})"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--section",
        action="append",
        default=[],
        choices=sorted(endpoints.SECTIONS),
        help="check only this section of the API (repeatable)",
    )
    p.add_argument(
        "--probe",
        action="store_true",
        help="skip the OpenAPI document and send the safe reads (when the document may be stale)",
    )
    return p


def run_check(conn_id: str, sections: tuple[str, ...] = (), *, probe_only: bool = False) -> CheckReport:
    """Check the API behind ``conn_id``; :class:`CheckAborted` when the check cannot run.

    :param conn_id: the Airflow connection id.
    :param sections: only these sections of the catalogue; all when empty.
    :param probe_only: probe even when the service has an OpenAPI document.
    """
    from votel_airflow.check_api.document import compare, find_document
    from votel_airflow.check_api.opening import open_hook
    from votel_airflow.check_api.probing import probe
    from votel_airflow.check_api.usage import endpoint_users

    hook = open_hook(conn_id)
    operations = catalogue(sections)
    try:
        found = None if probe_only else find_document(hook)
        if found is not None:
            source, document = found
            report = CheckReport(Mode.DOCUMENT, source, compare(document, hook.settings.base_url, operations))
        else:
            report = CheckReport(Mode.PROBING, hook.settings.base_url, probe(hook, operations))
    finally:
        hook.close()
    if report.failed:
        users = endpoint_users()
        report.used_by = {r.path: users.get(r.path, []) for r in report.failed}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``votel-check-api`` and ``python -m votel_airflow.check_api``."""
    args = _parser().parse_args(argv)
    from votel_airflow.check_api.report import as_json, as_text

    try:
        # Airflow may log to stdout while it loads its configuration: stdout is for the report
        # (one JSON object with --json), so anything else goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            report = run_check(args.conn_id, tuple(args.section), probe_only=args.probe)
    except CheckAborted as exc:
        if args.json:
            print(json.dumps({"conn_id": args.conn_id, "error": str(exc), "exit_status": EXIT_ABORTED}))
        else:
            print(f"votel-check-api: {exc}", file=sys.stderr)
        return EXIT_ABORTED
    try:
        print(as_json(report, args.conn_id) if args.json else as_text(report, args.conn_id))
    except BrokenPipeError:
        # Piped into `head`: the reader has what it wanted; Python's own exit would complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return report.exit_status
