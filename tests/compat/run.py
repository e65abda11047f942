"""Run the compatibility suite on the Airflow minor installed in this interpreter's venv.

``python -m tests.compat.run --airflow 3.1`` (``make compat AIRFLOW=3.1``) runs, in a fresh Airflow
home of its own, the suites that minor is given below, and writes what ran to
``compat-results/airflow-3.1.json`` (Airflow and Python versions, pass/fail/skip counts per suite)
for ``tests.compat.report`` to turn into docs/supported-versions.md. The exit code is pytest's,
except that a run that collected nothing fails.

What each minor runs in CI (the default scope): the compatibility tests (every module imports,
every moved name resolves, resume without a task state store, the real-deployment runs), the
unit and trigger tests, the notifiers (failure callbacks under ``dag.test()``), the completeness
check, DAG integrity and every example DAG with ``dag.test()``. ``--full`` adds every operator and
sensor test module and the reliability scenarios (faults, crashes and SIGKILL, secrets, the send
engine's state machine with :data:`FULL_ENGINE_EXAMPLES` stories): about three times as long, which
CI cannot afford for every minor within its budget (3.3 runs the whole suite in ``make test``).
docs/supported-versions.md lists what each scope found.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "compat-results"

#: What every minor runs in CI.
IN_CI = [
    "tests/compat",
    "tests/unit",
    "tests/triggers",
    # About 15 s: the callback contexts differ between minors (3.0 gives no exception under dag.test()).
    "tests/notifications",
    "tests/test_completeness.py",
    "tests/dags/test_dag_integrity.py",
    "tests/dags/test_example_runs.py",
]
#: What ``--full`` adds: every operator and sensor test module, the delivery policy (opt-outs,
#: quiet hours, caps, preview and approval, the verbs' answers kept across tries: where 3.0-3.2
#: differ from 3.3, about 80 s on 3.0) and the reliability scenarios.
FULL_ONLY = ["tests/operators", "tests/sensors", "tests/delivery", "tests/reliability"]
#: The send engine's state machine in ``--full``: a third of ``make test``'s derandomized 300
#: stories (the same seed, so the same first 100), to keep the tier within CI's budget.
FULL_ENGINE_EXAMPLES = "100"
MINORS = ("3.0", "3.1", "3.2", "3.3")
#: The real-deployment tests (tests/compat/test_*deployment.py) are a suite of their own: a lane
#: may leave them out (CI's 3.3 lane does, ``make test`` having run them), and the page must show
#: which minors ran them.
DEPLOYMENT_MODULE = re.compile(r"tests\.compat\.test_\w*deployment")


def suite_of(classname: str) -> str:
    """``tests.operators.test_agents`` -> ``operators``; top-level test modules -> their name;
    the real-deployment modules of tests/compat -> ``deployment``."""
    if DEPLOYMENT_MODULE.fullmatch(classname):
        return "deployment"
    parts = classname.split(".")
    if len(parts) > 2 and not parts[1].startswith("test_"):
        return parts[1]
    return parts[1].removeprefix("test_") if len(parts) > 1 else classname


def counts(junit: Path) -> dict[str, dict[str, int]]:
    """``{suite: {passed, failed, skipped}}`` from a pytest JUnit XML report."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        # A module skipped at collection (tests/triggers/test_event_shared_stream.py before 3.3)
        # is a case with an empty classname and the module's dotted path as its name.
        tally[suite_of(case.get("classname") or case.get("name", ""))][outcome] += 1
    return {suite: dict(tally[suite]) for suite in sorted(tally)}


def installed(distribution: str) -> str:
    from importlib import metadata

    return metadata.version(distribution)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--airflow", required=True, choices=MINORS)
    parser.add_argument(
        "--full",
        action="store_true",
        help="also run every operator and sensor test and the reliability suite",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args(argv)
    version = installed("apache-airflow-core")
    if not version.startswith(args.airflow + "."):
        print(f"This venv has Airflow {version}, not {args.airflow}.x", file=sys.stderr)
        return 2
    home = REPO / f".airflow-test-{args.airflow}"
    shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    junit = RESULTS / f"airflow-{args.airflow}.xml"
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    if args.full:
        env.setdefault("VOTEL_ENGINE_EXAMPLES", FULL_ENGINE_EXAMPLES)
    started = time.monotonic()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "not browser", "--durations=10"]
        # The parse-time budget is a 3.3 performance check (make test), not a compatibility one.
        + ["--deselect", "tests/dags/test_dag_integrity.py::test_each_example_file_is_cheap_to_parse"]
        + [f"--junitxml={junit}"]
        + IN_CI
        + (FULL_ONLY if args.full else [])
        + args.pytest_args,
        cwd=REPO,
        env=env,
    )
    seconds = time.monotonic() - started
    report = {
        "airflow": version,
        "python": platform.python_version(),
        "scope": "full" if args.full else "ci",
        "suites": counts(junit) if junit.exists() else {},
        "seconds": round(seconds, 1),
        "exit_code": code,
    }
    (RESULTS / f"airflow-{args.airflow}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"compat {args.airflow}: Airflow {version} on Python {report['python']}: {report['suites']}")
    return 1 if code == 5 else code


if __name__ == "__main__":
    sys.exit(main())
