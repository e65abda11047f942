"""Where each Airflow symbol the provider uses lives, on every supported Airflow (3.0 to 3.3).

Airflow 3 moves its public names into ``airflow.sdk`` release by release: ``BaseHook`` arrived
there in 3.1, ``AirflowFailException`` in ``airflow.sdk.exceptions`` in 3.2, and so on. Every module
of the provider imports those names from here, and nowhere else guesses. Each name maps to its
homes, newest first; the first that has it wins, so on a new Airflow the provider uses exactly
what that release's own task runner catches and subclasses.

Names resolve lazily (on first use), so a DAG file that needs only ``BaseOperator`` does not pay
for the trigger machinery or object storage. ``apache-airflow-providers-common-compat`` maps the
same symbols, but as a provider of its own with its own release cadence and Airflow floor; these
twenty names are cheaper to own than that dependency (CHANGELOG.md, 0.2.0).
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

#: The Airflow releases this provider supports; also what the Airflow 2 error names.
SUPPORTED_AIRFLOW = ">=3.0,<4"

#: name -> homes, newest first.
HOMES: dict[str, tuple[str, ...]] = {
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseNotifier": ("airflow.sdk", "airflow.sdk.bases.notifier", "airflow.notifications.basenotifier"),
    "BaseOperator": ("airflow.sdk",),
    "BaseOperatorLink": ("airflow.sdk",),
    "BaseSensorOperator": ("airflow.sdk",),
    "PokeReturnValue": ("airflow.sdk", "airflow.sdk.bases.sensor"),
    "ObjectStoragePath": ("airflow.sdk",),
    "Asset": ("airflow.sdk",),
    # For DAG files (the examples): in airflow.sdk from 3.2.
    "CronDataIntervalTimetable": ("airflow.sdk", "airflow.timetables.interval"),
    "conf": ("airflow.sdk", "airflow.configuration"),
    "mask_secret": ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"),
    "redact": (
        "airflow.sdk.log",
        "airflow.sdk._shared.secrets_masker",
        "airflow.sdk.execution_time.secrets_masker",
    ),
    "BaseTrigger": ("airflow.triggers.base",),
    "BaseEventTrigger": ("airflow.triggers.base",),
    "Variable": ("airflow.sdk",),
    "TriggerEvent": ("airflow.triggers.base",),
    "TaskSuccessEvent": ("airflow.triggers.base",),
    "StartTriggerArgs": ("airflow.triggers.base",),
    # Parse time only, for a mapped sensor that starts in the triggerer (3.3).
    "OperatorPartial": ("airflow.sdk.definitions.mappedoperator",),
    "XComArg": ("airflow.sdk",),
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowRescheduleException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowNotFoundException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    # Server side, for the tests and the demo: moved in 3.2.
    "DagBag": ("airflow.dag_processing.dagbag", "airflow.models.dagbag"),
    # Only from 3.1 (DeadlineAlert callbacks); ask with optional().
    "AsyncCallback": ("airflow.sdk", "airflow.sdk.definitions.deadline"),
    # Only from 3.3 (with the task state store); ask with optional().
    "NEVER_EXPIRE": ("airflow.sdk.execution_time.context",),
}

if TYPE_CHECKING:
    # mypy checks against the newest Airflow (the constraints' 3.3 set), where each name is at home.
    # ``X as X`` marks a re-export.
    from airflow.dag_processing.dagbag import DagBag as DagBag
    from airflow.sdk import Asset as Asset
    from airflow.sdk import BaseHook as BaseHook
    from airflow.sdk import BaseNotifier as BaseNotifier
    from airflow.sdk import BaseOperator as BaseOperator
    from airflow.sdk import BaseOperatorLink as BaseOperatorLink
    from airflow.sdk import BaseSensorOperator as BaseSensorOperator
    from airflow.sdk import CronDataIntervalTimetable as CronDataIntervalTimetable
    from airflow.sdk import ObjectStoragePath as ObjectStoragePath
    from airflow.sdk import PokeReturnValue as PokeReturnValue
    from airflow.sdk import Variable as Variable
    from airflow.sdk import XComArg as XComArg
    from airflow.sdk import conf as conf
    from airflow.sdk._shared.secrets_masker import redact as redact
    from airflow.sdk.definitions.mappedoperator import OperatorPartial as OperatorPartial
    from airflow.sdk.exceptions import AirflowException as AirflowException
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
    from airflow.sdk.exceptions import AirflowNotFoundException as AirflowNotFoundException
    from airflow.sdk.exceptions import AirflowRescheduleException as AirflowRescheduleException
    from airflow.sdk.exceptions import AirflowSensorTimeout as AirflowSensorTimeout
    from airflow.sdk.exceptions import AirflowSkipException as AirflowSkipException
    from airflow.sdk.exceptions import TaskDeferred as TaskDeferred
    from airflow.sdk.log import mask_secret as mask_secret
    from airflow.triggers.base import BaseEventTrigger as BaseEventTrigger
    from airflow.triggers.base import BaseTrigger as BaseTrigger
    from airflow.triggers.base import StartTriggerArgs as StartTriggerArgs
    from airflow.triggers.base import TaskSuccessEvent as TaskSuccessEvent
    from airflow.triggers.base import TriggerEvent as TriggerEvent


class UnsupportedAirflowError(ImportError):
    """The installed Airflow is outside :data:`SUPPORTED_AIRFLOW`."""


def airflow_version() -> str | None:
    """The installed Airflow's version, read from package metadata (no Airflow import)."""
    for distribution in ("apache-airflow-core", "apache-airflow"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def require_supported_airflow() -> None:
    """Raise one clear error when the installed Airflow is not a 3.x release."""
    version = airflow_version()
    if version is not None and version.split(".")[0] != "3":
        raise UnsupportedAirflowError(
            f"airflow-provider-votel needs Apache Airflow {SUPPORTED_AIRFLOW}, but Airflow {version} is "
            "installed: upgrade Airflow to 3.0 or later, or install this provider where Airflow 3 runs."
        )


#: The first Airflow with human-in-the-loop operators (``ApprovalOperator``, standard provider).
HUMAN_IN_THE_LOOP_SINCE = (3, 1)


def has_human_in_the_loop() -> bool:
    """Whether the installed Airflow has the human-in-the-loop operators (3.1+); no Airflow import."""
    version = airflow_version()
    if version is None:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    return parts >= HUMAN_IN_THE_LOOP_SINCE


def resolve(name: str) -> Any:
    """The object ``name`` from its newest home that the installed Airflow has."""
    homes = HOMES[name]
    for home in homes:
        try:
            module = importlib.import_module(home)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(
        f"{name} is in none of {', '.join(homes)} on Airflow {airflow_version()}; "
        f"airflow-provider-votel supports Airflow {SUPPORTED_AIRFLOW}."
    )


def optional(name: str) -> Any:
    """Like :func:`resolve`, but None where the installed Airflow has no such name."""
    try:
        return resolve(name)
    except ImportError:
        return None


def __getattr__(name: str) -> Any:
    if name not in HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = resolve(name)
    globals()[name] = value
    return value
