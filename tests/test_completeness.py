"""The provider covers the whole API contract, and every operator and sensor meets the house rules.

Every section of the contract (``docs/reference/api-contract.md``, section 3) has an operator
module with at least one operator. Every public operator and sensor class of
``votel_airflow.operators`` and ``votel_airflow.sensors`` declares ``template_fields`` naming real
arguments, documents every argument of its ``__init__`` with ``:param name:`` in its own docstring,
and is named by a test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

import votel_airflow.operators
import votel_airflow.sensors
from tests import contract as api_contract
from votel_airflow import endpoints
from votel_airflow.compat import BaseOperator

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
#: The shared bases every section builds on; they are not operators a DAG instantiates.
FOUNDATION_MODULES = frozenset({"base", "extract", "bulk_send"})
SKIPPED_PARAMETERS = frozenset({"self"})


def contract_sections() -> list[str]:
    """Section names of the contract's endpoint tables and of the catalogue, as module names."""
    return sorted(set(api_contract.sections()) | set(endpoints.SECTIONS))


def package_modules(package: ModuleType) -> list[ModuleType]:
    """Every module of a package, imported (an import error fails the test that asked)."""
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]


@cache
def operator_classes() -> list[type[BaseOperator]]:
    """Public operator and sensor classes defined (not imported) in the operator and sensor modules."""
    found: list[type[BaseOperator]] = []
    for package in (votel_airflow.operators, votel_airflow.sensors):
        for module in package_modules(package):
            if module.__name__.rsplit(".", 1)[1] in FOUNDATION_MODULES:
                continue
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and obj.__module__ == module.__name__
                    and not name.startswith("_")
                    and issubclass(obj, BaseOperator)
                    and not inspect.isabstract(obj)
                ):
                    found.append(obj)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def class_id(cls: type) -> str:
    return f"{cls.__module__.removeprefix('votel_airflow.')}.{cls.__qualname__}"


def init_parameters(cls: type) -> list[str]:
    """Named arguments of the ``__init__`` the class runs (``*args``/``**kwargs`` excluded)."""
    return [
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name not in SKIPPED_PARAMETERS
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def all_init_parameters(cls: type) -> set[str]:
    """Arguments of every ``__init__`` along the class's ancestry up to BaseOperator."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters)
        if klass is BaseOperator:
            break
    return names


@cache
def source_of_tests() -> str:
    """The text of every test module but this one."""
    return "\n".join(
        path.read_text() for path in sorted(TESTS.rglob("*.py")) if path.resolve() != Path(__file__).resolve()
    )


def test_the_collector_finds_operators_and_sensors_of_every_kind():
    names = {cls.__name__ for cls in operator_classes()}

    # Guards the checks below against passing vacuously on an empty or partial collection.
    assert {"VotelApiOperator", "WalletBalanceCheckOperator", "InboundReplySensor"} <= names
    assert not {"VotelBaseOperator", "VotelExtractOperator", "VotelSensor"} & names


@pytest.mark.parametrize("section", contract_sections())
def test_every_contract_section_has_an_operator_module(section: str):
    try:
        module = importlib.import_module(f"votel_airflow.operators.{section}")
    except ModuleNotFoundError as exc:
        pytest.fail(f"API section {section!r} has no module votel_airflow.operators.{section} ({exc})")
    defined = [cls for cls in operator_classes() if cls.__module__ == module.__name__]
    assert defined, f"votel_airflow.operators.{section} defines no public operator class"


@pytest.mark.parametrize("cls", operator_classes(), ids=class_id)
def test_operator_declares_template_fields_naming_its_arguments(cls: type[BaseOperator]):
    fields = tuple(getattr(cls, "template_fields", ()))

    assert fields, f"{class_id(cls)} declares no template_fields"
    unknown = sorted(set(fields) - all_init_parameters(cls))
    assert not unknown, f"{class_id(cls)}.template_fields names {unknown}, which no __init__ takes"


@pytest.mark.parametrize("cls", operator_classes(), ids=class_id)
def test_operator_docstring_documents_every_argument(cls: type[BaseOperator]):
    doc = vars(cls).get("__doc__") or ""

    assert doc.strip(), f"{class_id(cls)} has no docstring of its own"
    missing = [name for name in init_parameters(cls) if f":param {name}:" not in doc]
    assert not missing, f"{class_id(cls)} docstring lacks ':param x:' for {missing}"


@pytest.mark.parametrize("cls", operator_classes(), ids=class_id)
def test_operator_is_named_by_a_test(cls: type[BaseOperator]):
    assert re.search(rf"\b{re.escape(cls.__name__)}\b", source_of_tests()), (
        f"no test under tests/ names {cls.__name__}"
    )


@pytest.mark.parametrize("cls", operator_classes(), ids=class_id)
def test_every_operator_and_sensor_templates_its_connection_id(cls: type[BaseOperator]) -> None:
    assert "votel_conn_id" in cls.template_fields
