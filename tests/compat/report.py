"""Write docs/supported-versions.md from the compatibility runs' results (compat-results/*.json).

``python -m tests.compat.report`` prints the page; ``--write`` replaces the committed one;
``--check`` fails when the committed page differs from what these results give (``.ci/run`` does
that after the matrix, so the page always says what CI last proved). The page holds no timings and
no dates, so the same results always give the same file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from tests.compat.run import counts

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "compat-results"
PAGE = REPO / "docs" / "supported-versions.md"
WHEEL = "wheel-check.json"

TEMPLATE = Path(__file__).with_name("page_template.md")

SUITE_NAMES = {
    "unit": "unit",
    "operators": "operators",
    "sensors": "sensors",
    "triggers": "triggers",
    "notifications": "notifiers",
    "reliability": "reliability",
    "completeness": "every public class",
    "dags": "example DAGs (`dag.test()`)",
    "compat": "imports, resume",
    "deployment": "real deployment",
}


def _run(result: Path) -> dict[str, Any]:
    """One minor's results. Those written before the real-deployment tests were a suite of their
    own, or before a module skipped at collection was given its suite (it was counted under an
    empty name), are counted again from their JUnit report, when it is there; without it their
    ``compat`` tally claims no deployment run, since the lane may have left those tests out."""
    run: dict[str, Any] = json.loads(result.read_text())
    junit = result.with_suffix(".xml")
    if ("deployment" not in run["suites"] or "" in run["suites"]) and junit.exists():
        run["suites"] = counts(junit)
    return run


def load(results: Path) -> list[dict[str, Any]]:
    runs = [_run(p) for p in sorted(results.glob("airflow-*.json"))]
    return sorted(runs, key=lambda r: [int(x) for x in r["airflow"].split(".")[:3] if x.isdigit()])


def _suites(run: dict[str, Any]) -> str:
    parts = []
    for suite, tally in run["suites"].items():
        name = SUITE_NAMES.get(suite, suite)
        parts.append(
            f"{name} {tally['passed']}" + (f" ({tally['skipped']} skipped)" if tally["skipped"] else "")
        )
    return ", ".join(parts)


def render(runs: list[dict[str, Any]], wheel: dict[str, Any] | None) -> str:
    lines = [
        "| Airflow | Python | Scope | Passed | Failed | What ran (passed per suite) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        passed = sum(t["passed"] for t in run["suites"].values())
        failed = sum(t["failed"] for t in run["suites"].values())
        cells = [run["airflow"], run["python"], run.get("scope", "ci"), passed, failed, _suites(run)]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    text = "\n".join(lines) + "\n"
    if wheel is not None:
        checks = ", ".join(wheel["checks"])
        text += (
            f"\n**Wheel-only install** (Airflow {wheel['airflow']}, Python {wheel['python']}): "
            f"`python -m build`, `twine check`, then in a clean venv with only the wheel: {checks}.\n"
        )
    return TEMPLATE.read_text().replace("{matrix}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace docs/supported-versions.md")
    mode.add_argument("--check", action="store_true", help="fail if the committed page differs")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = load(args.results)
    if not runs:
        print(f"no results in {args.results}: run `make compat AIRFLOW=3.X` first", file=sys.stderr)
        return 2
    wheel_file = args.results / WHEEL
    wheel = json.loads(wheel_file.read_text()) if wheel_file.exists() else None
    page = render(runs, wheel)
    if args.write:
        PAGE.write_text(page)
    elif args.check:
        committed = PAGE.read_text() if PAGE.exists() else ""
        if committed != page:
            diff = difflib.unified_diff(
                committed.splitlines(), page.splitlines(), "committed", "this run", lineterm=""
            )
            print("\n".join(diff))
            print(
                f"{PAGE.relative_to(REPO)} does not match this run's results: "
                "run `python -m tests.compat.report --write` and commit it.",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
