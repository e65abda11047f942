"""The delivery modules' old paths (issue 22, item 8) stay importable for one release, warning.

Only the paths the docs or the changelog named as importable have an alias; ``kill_switch`` was
internal and has none.
"""

from __future__ import annotations

import importlib
import warnings

import pytest

MOVED = [
    ("votel_airflow.sending", "votel_airflow.delivery.engine", "send_each"),
    ("votel_airflow.sending", "votel_airflow.delivery.engine", "VotelRecipientsRefusedError"),
    ("votel_airflow.idempotency", "votel_airflow.delivery.idempotency", "idempotency_key"),
    ("votel_airflow.idempotency", "votel_airflow.delivery.idempotency", "TaskProgress"),
    ("votel_airflow.progress_stores", "votel_airflow.delivery.progress_stores", "ResultsFileProgressStore"),
    ("votel_airflow.ambiguity", "votel_airflow.delivery.ambiguity", "VotelAmbiguousRecipientsError"),
    ("votel_airflow.xcom_results", "votel_airflow.delivery.xcom_results", "capped_lists"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_an_old_delivery_path_still_gives_the_same_object_and_names_the_new_one(
    old: str, new: str, name: str
) -> None:
    # Imported first: importing Airflow (which the engine does) reroutes warnings to its log.
    alias, moved = importlib.import_module(old), importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match=rf"import {name} from {new}\b"):
        found = getattr(alias, name)
    assert found is getattr(moved, name)


def test_a_from_import_of_an_old_path_works() -> None:
    importlib.import_module("votel_airflow.delivery.engine")
    with pytest.warns(DeprecationWarning, match=r"votel_airflow\.delivery\.engine"):
        from votel_airflow.sending import send_each
    from votel_airflow.delivery.engine import send_each as moved

    assert send_each is moved


def test_a_name_the_moved_module_lacks_is_an_attribute_error_without_a_warning() -> None:
    old = importlib.import_module("votel_airflow.idempotency")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match=r"votel_airflow\.idempotency"):
            old.no_such_name  # noqa: B018


def test_the_internal_kill_switch_has_no_alias() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("votel_airflow.kill_switch")
