"""One real deployment shared by the deployment tests of this folder (tests/compat/deployment.py).

Starting the four Airflow processes costs about a minute: the tests that only run DAGs share one,
each with its own DAG folder and sandbox account (``deployment_tenant``). A test that kills a
process starts its own deployment instead (a fixture named ``own_deployment``), so no other test
sees what it broke; those run before the shared one starts, so two deployments never share the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.deployment import (
    CALL_STAGE_SECONDS,
    Deployment,
    DeploymentTenant,
    add_tenant,
    running_deployment,
)
from votel_airflow.sandbox.server import SandboxServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests with a deployment of their own before the first test of the shared one."""
    shared = [n for n, item in enumerate(items) if "shared_deployment" in _fixtures(item)]
    if not shared:
        return
    later = items[shared[0] :]
    own = [item for item in later if "own_deployment" in _fixtures(item)]
    items[shared[0] :] = own + [item for item in later if item not in own]


def _fixtures(item: pytest.Item) -> list[str]:
    return list(getattr(item, "fixturenames", []))


@pytest.fixture(scope="package")
def deployment_sandbox() -> Iterator[SandboxServer]:
    """The sandbox the deployments reach: calls last long enough for each wait to reach the triggerer."""
    with SandboxServer(call_stage_seconds=CALL_STAGE_SECONDS) as server:
        yield server


@pytest.fixture(scope="package")
def shared_deployment(
    deployment_sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A running deployment whose DAGs folder the tests add their DAG files to."""
    root = tmp_path_factory.mktemp("shared-deployment")
    with running_deployment(root, deployment_sandbox, root / "dags") as deployment:
        yield deployment


@pytest.fixture
def deployment_tenant(
    shared_deployment: Deployment, deployment_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> DeploymentTenant:
    """This test's own sandbox account and the deployment's connection to it."""
    return add_tenant(shared_deployment, deployment_sandbox, monkeypatch)
