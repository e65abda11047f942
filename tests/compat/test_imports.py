"""Every module of the provider imports on this Airflow, and every moved name resolves from compat."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import votel_airflow
from votel_airflow import compat

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(votel_airflow.__path__, "votel_airflow.")
    # ``__main__`` modules start a program when imported.
    if not info.name.endswith("__main__")
)
#: Names only some minors have; ``compat.optional`` answers None elsewhere.
OPTIONAL = {"AsyncCallback", "NEVER_EXPIRE"}


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module: str) -> None:
    assert importlib.import_module(module).__name__ == module


@pytest.mark.parametrize("name", sorted(set(compat.HOMES) - OPTIONAL))
def test_every_moved_name_resolves_from_one_of_its_homes(name: str) -> None:
    value = compat.resolve(name)
    homes = [importlib.import_module(home) for home in compat.HOMES[name] if _importable(home)]
    assert any(getattr(home, name, None) is value for home in homes)


@pytest.mark.parametrize("name", sorted(OPTIONAL))
def test_an_optional_name_is_none_or_the_object_of_one_of_its_homes(name: str) -> None:
    value = compat.optional(name)
    homes = [importlib.import_module(home) for home in compat.HOMES[name] if _importable(home)]
    found = [getattr(home, name) for home in homes if hasattr(home, name)]
    assert value is (found[0] if found else None)


def test_the_newest_home_wins_where_a_name_lives_in_two() -> None:
    # Airflow 3.2+ has DagBag in both homes; where the newest has it, that is the one handed out.
    newest = compat.HOMES["DagBag"][0]
    if _importable(newest):
        assert compat.resolve("DagBag") is importlib.import_module(newest).DagBag
    else:
        assert compat.resolve("DagBag").__module__ == compat.HOMES["DagBag"][1]


def test_a_name_in_no_home_fails_naming_the_homes_and_the_supported_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(compat.HOMES, "NotAnAirflowName", ("airflow.sdk", "airflow.exceptions"))
    with pytest.raises(
        ImportError, match=r"NotAnAirflowName is in none of airflow.sdk, airflow.exceptions.*>=3.0,<4"
    ):
        compat.resolve("NotAnAirflowName")
    assert compat.optional("NotAnAirflowName") is None


def test_under_airflow_2_importing_the_provider_fails_once_naming_the_supported_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compat, "airflow_version", lambda: "2.10.5")
    with pytest.raises(
        compat.UnsupportedAirflowError, match=r"needs Apache Airflow >=3.0,<4, but Airflow 2.10.5"
    ):
        compat.require_supported_airflow()


def test_this_airflow_is_accepted() -> None:
    assert (compat.airflow_version() or "").startswith("3.")
    compat.require_supported_airflow()


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
