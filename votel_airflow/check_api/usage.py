"""Which operators, sensors and hook verbs use each endpoint, read from the provider's code.

Not a table: the package's own source is parsed (it ships in the wheel), so the answer follows the
code. Each use of ``endpoints.NAME`` is traced up through the code that refers to it, by name,
until it reaches what a user writes in a DAG:

- an operator, sensor, notifier or trigger class (public, in its layer's package), or
- a public hook verb (a public method of a class in ``votel_airflow.hooks``, e.g. ``send_sms``),
  which is reported and traced further to the operators that call it.

A method of any other class is reached through its class (a sensor builds a condition by its class
name), a module-level function, class or constant through its name as the referring module sees it
(defined there, imported, or ``module.name``), a hook verb through the attribute name it is called
by (``self.hook.send_sms(...)``). Attribute names can collide, so the trace may name a user too
many, never too few.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import votel_airflow
from votel_airflow import endpoints

PACKAGE_DIR = Path(votel_airflow.__file__).parent
#: Not the provider's code paths: the catalogue itself, the tools and the local API.
SKIPPED = ("endpoints.py", "testing.py", "check_api", "sandbox")
USER_PACKAGES = ("operators", "sensors", "triggers", "notifications.py")
USER_SUFFIXES = ("Operator", "Sensor", "Notifier", "Trigger")
HOOKS_PACKAGE = "hooks"


@dataclass(frozen=True)
class Unit:
    """A piece of code that uses names: a function, a method, a class body, a module statement.

    :param label: how a report names it (``SendSmsOperator``, ``hook.send_sms``), or "" if not a user.
    :param known_as: the names by which other code reaches it.
    :param is_verb: a hook verb: reported, and traced further.
    """

    label: str
    known_as: frozenset[str]
    is_verb: bool = False


def endpoint_users(package_dir: Path = PACKAGE_DIR) -> dict[str, list[str]]:
    """``{path template: sorted users}`` for every catalogue path some code uses.

    :param package_dir: the package to read (the installed ``votel_airflow`` by default).
    """
    names = {
        name: value for name, value in vars(endpoints).items() if name.isupper() and isinstance(value, str)
    }
    files = {_module_name(package_dir, f): f for f in sorted(package_dir.rglob("*.py"))}
    units: dict[Unit, tuple[set[str], set[str]]] = {}  # unit -> (keys it refers to, endpoints it uses)
    for module, file in files.items():
        relative = file.relative_to(package_dir)
        if relative.parts[0] in SKIPPED:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        scope = _Scope(module, file.name == "__init__.py", tree, set(files))
        for unit, referred, used in _units(relative, scope, tree):
            refs, uses = units.setdefault(unit, (set(), set()))
            refs |= referred
            uses |= {names[n] for n in used if n in names}
    referrers: dict[str, list[Unit]] = defaultdict(list)
    for unit, (referred, _) in units.items():
        for key in referred:
            referrers[key].append(unit)
    found: dict[str, list[str]] = {}
    for path in names.values():
        direct = [unit for unit, (_, uses) in units.items() if path in uses]
        users = _trace(direct, referrers)
        if users:
            found[path] = sorted(users)
    return found


def _module_name(package_dir: Path, file: Path) -> str:
    parts = [package_dir.name, *file.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _trace(start: Iterable[Unit], referrers: dict[str, list[Unit]]) -> set[str]:
    """The labels of the users reached from ``start``, walking up through referrers."""
    users: set[str] = set()
    seen: set[Unit] = set()
    todo = list(start)
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        if unit.label:
            users.add(unit.label)
            if not unit.is_verb:
                continue  # a class a DAG uses: the trace ends here
        for key in unit.known_as:
            todo.extend(referrers.get(key, ()))
    return users


class _Scope:
    """How one module's names resolve: its own top-level names, and what it imports."""

    def __init__(self, module: str, is_package: bool, tree: ast.Module, modules: set[str]) -> None:
        self.module = module
        self.modules = modules
        self.aliases: dict[str, str] = {}  # local name -> "module:name", or "module" for a module
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    self.aliases[alias.asname or alias.name] = (
                        full if full in modules else f"{base}:{alias.name}"
                    )

    def key(self, name: str) -> str:
        """The key of a bare name used in this module."""
        return self.aliases.get(name, f"{self.module}:{name}")

    def collect(self, node: ast.AST, refs: set[str], uses: set[str]) -> None:
        """Add the keys ``node`` refers to, and the ``endpoints.NAME`` s it uses."""
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                refs.add(self.key(child.id))
            elif isinstance(child, ast.Attribute):
                refs.add(f"attr:{child.attr}")
                if isinstance(child.value, ast.Name):
                    target = self.aliases.get(child.value.id, "")
                    if target in self.modules:
                        refs.add(f"{target}:{child.attr}")
                    if child.value.id == "endpoints":
                        uses.add(child.attr)

    def names(self, node: ast.AST) -> tuple[set[str], set[str]]:
        refs: set[str] = set()
        uses: set[str] = set()
        self.collect(node, refs, uses)
        return refs, uses


def _units(relative: Path, scope: _Scope, tree: ast.Module) -> Iterator[tuple[Unit, set[str], set[str]]]:
    """Each unit of a module with the keys it refers to and the ``endpoints.NAME`` s it uses."""
    top = relative.parts[0]
    in_user_layer = top in USER_PACKAGES
    in_hooks = top == HOOKS_PACKAGE
    own = scope.key
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            public_user = (
                in_user_layer and node.name.endswith(USER_SUFFIXES) and not node.name.startswith("_")
            )
            body_refs: set[str] = set()
            body_uses: set[str] = set()
            for base in [*node.bases, *node.decorator_list]:
                scope.collect(base, body_refs, body_uses)
            for item in node.body:
                refs, uses = scope.names(item)
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and in_hooks:
                    # Hook methods are called on a hook instance, by attribute name.
                    verb = not item.name.startswith("_")
                    label = f"hook.{item.name}" if verb else ""
                    yield Unit(label, frozenset({f"attr:{item.name}"}), is_verb=verb), refs, uses
                else:
                    body_refs |= refs
                    body_uses |= uses
            yield Unit(node.name if public_user else "", frozenset({own(node.name)})), body_refs, body_uses
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            refs, uses = scope.names(node)
            yield Unit("", frozenset({own(node.name)})), refs, uses
        elif not isinstance(node, ast.Import | ast.ImportFrom):
            refs, uses = scope.names(node)
            yield Unit("", frozenset(own(name) for name in _assigned(node))), refs, uses


def _assigned(node: ast.stmt) -> set[str]:
    """The module-level names a statement binds."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
