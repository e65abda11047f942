"""Imports point down only: operators and sensors never import each other, nothing below them
imports either, delivery sits between them and the hooks, and no modules import each other in a
circle (docs/conventions.md draws the layers).

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
NOTIFICATIONS = "votel_airflow.notifications"
DELIVERY = "votel_airflow.delivery"
HOOKS = "votel_airflow.hooks"
#: The one hook module that reaches into delivery: the verbs ``@task`` code calls apply the
#: outreach policy and take idempotency keys (issue 22, item 7), and they are methods of
#: ``VotelHook`` itself, so they live with it.
VERBS = "votel_airflow.hooks.verbs"
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


def import_cycles(arrows: set[tuple[str, str]]) -> list[list[str]]:
    """Every group of modules that import each other in a circle (strongly connected components
    of more than one module), each sorted, found with Tarjan's algorithm."""
    graph: dict[str, set[str]] = {}
    for importer, imported in arrows:
        if importer != imported:
            graph.setdefault(importer, set()).add(imported)
            graph.setdefault(imported, set())
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in on_stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_the_cycle_finder_finds_a_circle_and_nothing_else() -> None:
    # Guards the finder: a finder that found nothing would make the check below pass vacuously.
    circle = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")}
    assert import_cycles(circle) == [["a", "b", "c"]]
    assert import_cycles({("a", "b"), ("b", "c")}) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    # A circle works until someone moves an import to module level or imports the modules in
    # another order; then it is an ImportError on a user's worker. TYPE_CHECKING and lazy
    # imports count: each is the arrow that becomes the module-level one later.
    assert import_cycles(ARROWS) == []


def test_delivery_sits_below_operators_sensors_and_notifiers() -> None:
    above = (OPERATORS, SENSORS, NOTIFICATIONS)
    assert ("votel_airflow.operators.bulk_send", "votel_airflow.delivery.engine") in ARROWS
    offenders = sorted((a, b) for a, b in ARROWS if _in(a, DELIVERY) and any(_in(b, up) for up in above))
    assert offenders == [], f"delivery imports upward: {offenders}"


def test_hooks_reach_delivery_only_through_the_verbs() -> None:
    offenders = sorted((a, b) for a, b in ARROWS if _in(a, HOOKS) and _in(b, DELIVERY) and a != VERBS)
    assert offenders == [], f"only the hook verbs may use delivery: {offenders}"


def test_what_the_verbs_use_of_delivery_imports_no_hook() -> None:
    # The engine, the kill switch and the ambiguity checks use the hook; the policy and the keys
    # the verbs apply must not, or the hook would import itself through them.
    used = {b for a, b in ARROWS if a == VERBS and _in(b, DELIVERY)}
    assert "votel_airflow.delivery.screening" in used
    reached, todo = set(), list(used)
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(b for a, b in ARROWS if a == module and _in(b, DELIVERY))
    offenders = sorted((a, b) for a, b in ARROWS if a in reached and _in(b, HOOKS))
    assert offenders == [], f"delivery modules the verbs use import a hook: {offenders}"
