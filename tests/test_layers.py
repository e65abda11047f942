"""Imports point down only: operators and sensors never import each other, and nothing below them
imports either (docs/conventions.md draws the layers).

Every import counts, at module level, inside functions and under ``TYPE_CHECKING``: a lazy import
is still an arrow, and it is the kind that hid a cycle before (sensors imported operators at
module level, operators imported sensors inside functions).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import votel_airflow

PACKAGE_DIR = Path(votel_airflow.__file__).parent
OPERATORS = "votel_airflow.operators"
SENSORS = "votel_airflow.sensors"
#: Tooling shipped in the package for tests (the sandbox and its pytest plugin), not a layer of
#: the provider. The demo lives outside the package, in dev/.
TOOLING = ("votel_airflow.sandbox", "votel_airflow.testing")


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the package."""
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ["votel_airflow", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = module_files()


def imports_of(module: str, source: str, is_package: bool = False) -> Iterator[str]:
    """Every module ``source`` imports, anywhere in it; ``from pkg import sub`` names ``pkg.sub``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in MODULES else base


def arrows() -> set[tuple[str, str]]:
    """``(importer, imported)`` for every import of one of the package's modules by another."""
    found = set()
    for module, path in MODULES.items():
        for target in imports_of(module, path.read_text(), is_package=path.name == "__init__.py"):
            if target.startswith("votel_airflow"):
                found.add((module, target))
    return found


ARROWS = arrows()


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_imports_inside_functions_and_relative_imports_are_seen() -> None:
    # Guards the walker: an import the checks below miss would make them pass vacuously.
    source = (
        "def f():\n    from votel_airflow.operators.agents import StartCallOperator\nfrom . import base\n"
    )
    found = set(imports_of("votel_airflow.sensors.calls", source))
    assert found == {"votel_airflow.operators.agents", "votel_airflow.sensors.base"}
    assert ("votel_airflow.sensors.calls", "votel_airflow.sensors.base") in ARROWS
    assert ("votel_airflow.operators.agents", "votel_airflow.conditions.calls") in ARROWS


@pytest.mark.parametrize(("source", "target"), [(SENSORS, OPERATORS), (OPERATORS, SENSORS)])
def test_operators_and_sensors_never_import_each_other(source: str, target: str) -> None:
    offenders = sorted((a, b) for a, b in ARROWS if _in(a, source) and _in(b, target))
    assert offenders == [], f"{source} must not import {target}: {offenders}"


def test_nothing_below_operators_and_sensors_imports_them() -> None:
    lower = [
        m for m in MODULES if not (_in(m, OPERATORS) or _in(m, SENSORS) or any(_in(m, t) for t in TOOLING))
    ]
    assert "votel_airflow.conditions.calls" in lower
    assert "votel_airflow.hooks.votel" in lower
    offenders = sorted((a, b) for a, b in ARROWS if a in lower and (_in(b, OPERATORS) or _in(b, SENSORS)))
    assert offenders == [], f"a lower layer imports upward: {offenders}"


def test_nothing_in_the_provider_imports_the_check_command() -> None:
    # votel-check-api sits on top of the hooks and the catalogue, like a user's script: nothing a
    # DAG imports may pull it (and its source scan) in.
    command = "votel_airflow.check_api"
    offenders = sorted((a, b) for a, b in ARROWS if _in(b, command) and not _in(a, command))
    assert ("votel_airflow.check_api.cli", "votel_airflow.check_api.results") in ARROWS
    assert offenders == [], f"only the command imports itself: {offenders}"


def test_the_outreach_policy_imports_no_hook_operator_or_sensor() -> None:
    # The hook verbs apply the policy (a lazy import of delivery): delivery importing a hook back
    # would close a circle, so its reads take anything with ``paginate`` instead.
    delivery = "votel_airflow.delivery"
    assert ("votel_airflow.hooks.verbs", "votel_airflow.delivery.screening") in ARROWS
    offenders = sorted(
        (a, b)
        for a, b in ARROWS
        if _in(a, delivery) and any(_in(b, up) for up in ("votel_airflow.hooks", OPERATORS, SENSORS))
    )
    assert offenders == [], f"the outreach policy imports upward: {offenders}"
