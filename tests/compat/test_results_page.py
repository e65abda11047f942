"""docs/supported-versions.md says which minors ran the real-deployment tests, and only those."""

from __future__ import annotations

import json
from pathlib import Path

from tests.compat.report import load, render
from tests.compat.run import counts, suite_of

TALLY = {"passed": 3, "failed": 0, "skipped": 0}
JUNIT = """<testsuites><testsuite>
<testcase classname="tests.compat.test_imports" name="test_a"/>
<testcase classname="tests.compat.test_deployment" name="test_b"/>
<testcase classname="tests.compat.test_end_in_triggerer_deployment" name="test_c"/>
</testsuite></testsuites>"""


def _row(page: str, airflow: str) -> str:
    (row,) = [line for line in page.splitlines() if line.startswith(f"| {airflow} ")]
    return row


def test_the_deployment_test_modules_are_a_suite_of_their_own() -> None:
    assert suite_of("tests.compat.test_event_watcher_deployment") == "deployment"
    assert suite_of("tests.compat.test_deployment") == "deployment"
    assert suite_of("tests.compat.test_imports") == "compat"


def test_a_row_claims_a_deployment_run_only_when_its_lane_ran_one() -> None:
    ran = {"airflow": "3.1.8", "python": "3.11.7", "suites": {"compat": TALLY, "deployment": TALLY}}
    left_out = {"airflow": "3.3.2", "python": "3.13.0", "suites": {"compat": TALLY}}

    page = render([ran, left_out], None)

    assert "real deployment 3" in _row(page, "3.1.8")
    assert "deployment" not in _row(page, "3.3.2")


def test_results_from_before_the_split_are_counted_again_from_their_junit_report(tmp_path: Path) -> None:
    old = {"airflow": "3.2.2", "python": "3.12.1", "suites": {"compat": TALLY}}
    (tmp_path / "airflow-3.2.json").write_text(json.dumps(old))
    (tmp_path / "airflow-3.2.xml").write_text(JUNIT)

    (run,) = load(tmp_path)

    assert run["suites"]["compat"]["passed"] == 1
    assert run["suites"]["deployment"]["passed"] == 2


#: What pytest writes for a module skipped at collection: no classname, the module as the name.
COLLECTION_SKIP = """<testsuites><testsuite>
<testcase classname="" name="tests.triggers.test_event_shared_stream">
<skipped message="collection skipped">Skipped: could not import 'airflow.triggers.shared_stream'</skipped>
</testcase>
<testcase classname="tests.triggers.test_condition_trigger" name="test_a"/>
</testsuite></testsuites>"""


def test_a_module_skipped_at_collection_is_counted_in_its_own_suite(tmp_path: Path) -> None:
    junit = tmp_path / "airflow-3.0.xml"
    junit.write_text(COLLECTION_SKIP)

    assert counts(junit) == {"triggers": {"passed": 1, "failed": 0, "skipped": 1}}


def test_results_with_an_unnamed_suite_are_counted_again_and_the_row_names_every_suite(
    tmp_path: Path,
) -> None:
    suites = {"": {"passed": 0, "failed": 0, "skipped": 1}, "deployment": TALLY}
    old = {"airflow": "3.0.6", "python": "3.10.13", "suites": suites}
    (tmp_path / "airflow-3.0.json").write_text(json.dumps(old))
    (tmp_path / "airflow-3.0.xml").write_text(COLLECTION_SKIP)

    row = _row(render(load(tmp_path), None), "3.0.6")

    assert row.endswith("| triggers 1 (1 skipped) |")
