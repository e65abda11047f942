"""The documentation site: every included snippet exists and is run by the suite; the site builds.

Code in the docs is included from files (``--8<-- "FILE:REGION"``, pymdownx.snippets) instead of
being copied, so that it cannot rot: these tests pin that each include names an existing file and
region, that each region lives in a file the test suite runs (an example DAG that
``tests/dags/test_example_runs.py`` runs, or a test module), and that ``mkdocs build --strict``
passes.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLE_RUNS = ROOT / "tests" / "dags" / "test_example_runs.py"
# A line of its own, as pymdownx.snippets reads it: --8<-- "path" or --8<-- "path:region".
_INCLUDE = re.compile(r"""^\s*-{1,}8<-{1,}\s+(["'])(?P<target>[^"']+)\1\s*$""")
_START = "--8<-- [start:{}]"
_END = "--8<-- [end:{}]"


@dataclass(frozen=True)
class Include:
    """One ``--8<--`` include: the page and line it is on, the file and the region it names."""

    page: Path
    line: int
    path: str
    region: str | None

    def __str__(self) -> str:
        where = self.path if self.region is None else f"{self.path}:{self.region}"
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line} includes {where!r}"


def parse_target(target: str) -> tuple[str, str | None]:
    """``("file", "region")`` of a snippet target; ``("file", None)`` for a whole file."""
    path, sep, region = target.rpartition(":")
    if not sep or not region or "/" in region:
        return target, None
    return path, region


def includes(docs: Path = DOCS) -> list[Include]:
    """Every snippet include in the published pages (files starting with ``_`` are not published)."""
    found = []
    for page in sorted(docs.rglob("*.md")):
        if any(part.startswith("_") for part in page.relative_to(docs).parts):
            continue
        for number, text in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            match = _INCLUDE.match(text)
            if match:
                path, region = parse_target(match["target"])
                found.append(Include(page, number, path, region))
    return found


def region_lines(source: str, region: str) -> list[str] | None:
    """The lines between the region's start and end markers; None when either is missing."""
    lines = source.splitlines()
    # Anywhere on its line, as pymdownx.snippets reads it: in a comment of the file's own syntax
    # (``# --8<-- [start:x]`` in Python, ``<!-- --8<-- [start:x] -->`` in Markdown).
    starts = [i for i, line in enumerate(lines) if _START.format(region) in line]
    ends = [i for i, line in enumerate(lines) if _END.format(region) in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] <= starts[0]:
        return None
    return lines[starts[0] + 1 : ends[0]]


def dag_ids_run_by_the_suite() -> set[str]:
    """The DAG ids ``tests/dags/test_example_runs.py`` passes to ``run_dag``."""
    tree = ast.parse(EXAMPLE_RUNS.read_text(encoding="utf-8"))
    ids: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_dag" and len(node.args) >= 2:
            dag_id = node.args[1]
            if isinstance(dag_id, ast.Constant) and isinstance(dag_id.value, str):
                ids.add(dag_id.value)
    return ids


def dag_ids_defined_in(path: Path) -> set[str]:
    """The ``dag_id``s a DAG file declares (``DAG(dag_id="...")`` or ``DAG("...")``)."""
    ids: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DAG":
            for keyword in node.keywords:
                if keyword.arg == "dag_id" and isinstance(keyword.value, ast.Constant):
                    ids.add(str(keyword.value.value))
            if node.args and isinstance(node.args[0], ast.Constant):
                ids.add(str(node.args[0].value))
    return ids


def why_not_run_by_the_suite(path: str, root: Path = ROOT) -> str | None:
    """None when the suite runs this file; otherwise why it does not count as run.

    :param path: the file, relative to ``root``, as the include names it.
    :param root: the repository root the include's path is relative to.
    """
    relative = Path(path)
    if relative.parts[:1] == ("tests",):
        if relative.suffix == ".py" and relative.name.startswith("test_"):
            return None
        return "is under tests/ but is not a test module (test_*.py)"
    if relative.parts[:1] == ("dags_examples",) and relative.suffix == ".py":
        declared = dag_ids_defined_in(root / relative)
        if declared and declared <= dag_ids_run_by_the_suite():
            return None
        return f"declares {sorted(declared)}, not all run by {EXAMPLE_RUNS.relative_to(ROOT)}"
    return "is neither an example DAG (dags_examples/*.py) nor a test module (tests/**/test_*.py)"


def test_the_pages_include_example_code() -> None:
    # Guards the checks below against passing vacuously (e.g. if the include syntax changed).
    regions = [inc for inc in includes() if inc.region is not None]
    assert len(regions) >= 12, [str(inc) for inc in includes()]


def test_every_include_names_an_existing_file() -> None:
    missing = [str(inc) for inc in includes() if not (ROOT / inc.path).is_file()]
    assert not missing, missing


def test_every_region_include_names_a_region_of_that_file() -> None:
    problems = []
    for inc in includes():
        if inc.region is None or not (ROOT / inc.path).is_file():
            continue
        lines = region_lines((ROOT / inc.path).read_text(encoding="utf-8"), inc.region)
        if lines is None:
            problems.append(f"{inc}: no single start/end marker pair for {inc.region!r}")
        elif not any(line.strip() for line in lines):
            problems.append(f"{inc}: the region is empty")
    assert not problems, problems


def test_every_included_region_comes_from_a_file_the_suite_runs() -> None:
    problems = [
        f"{inc}: {reason}"
        for inc in includes()
        # A region of prose (a Markdown page shown in two parts) has nothing to run.
        if inc.region is not None
        and not inc.path.endswith(".md")
        and (reason := why_not_run_by_the_suite(inc.path)) is not None
    ]
    assert not problems, problems


def test_whole_file_includes_are_documents_not_code() -> None:
    # Code comes in as a region the suite runs; a whole file is only ever prose (the changelog,
    # the benchmark results), which has no region to run.
    code = [str(inc) for inc in includes() if inc.region is None and not inc.path.endswith(".md")]
    assert not code, code


def test_only_test_modules_and_example_dags_the_suite_runs_count_as_run(tmp_path: Path) -> None:
    assert why_not_run_by_the_suite("docs/index.md") is not None
    assert why_not_run_by_the_suite("tests/support.py") is not None
    assert why_not_run_by_the_suite("tests/dags/test_example_runs.py") is None
    assert why_not_run_by_the_suite("dags_examples/votel_outreach_campaign.py") is None
    (tmp_path / "dags_examples").mkdir()
    (tmp_path / "dags_examples" / "never_run.py").write_text('DAG(dag_id="votel_never_run")\n')
    assert "votel_never_run" in str(why_not_run_by_the_suite("dags_examples/never_run.py", tmp_path))


def test_includes_are_found_inside_code_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '```python\n--8<-- "dags_examples/votel_click_report.py:report"\n```\n--8<-- "CHANGELOG.md"\n'
    )
    assert [(i.path, i.region) for i in includes(tmp_path)] == [
        ("dags_examples/votel_click_report.py", "report"),
        ("CHANGELOG.md", None),
    ]


def documented_modules(docs: Path = DOCS) -> set[str]:
    """Modules rendered by a ``::: path`` directive of mkdocstrings, or holding a rendered object."""
    found: set[str] = set()
    for page in docs.rglob("*.md"):
        for match in re.finditer(r"^:::\s+([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.MULTILINE):
            parts = match[1].split(".")
            # "a.b.module.Class" names its module too: keep every dotted prefix.
            found.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return found


@pytest.mark.parametrize("package", ["operators", "sensors"])
def test_every_public_operator_and_sensor_module_is_on_a_page(package: str) -> None:
    modules = {
        f"votel_airflow.{package}.{path.stem}"
        for path in (ROOT / "votel_airflow" / package).glob("*.py")
        if not path.stem.startswith("_")
    }
    assert modules, package
    missing = sorted(modules - documented_modules())
    assert not missing, f"add a ::: directive for {missing} to a page under docs/"


@pytest.mark.slow
def test_the_site_builds_strictly_without_warnings(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]'")
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert not warnings, warnings
    assert (tmp_path / "site" / "sections" / "agents" / "index.html").is_file()
