"""The e2e tier: one distributed Airflow for the whole session, every scenario runs against it.

Starting the deployment costs about a minute; it is started once (``cluster``) and every
scenario leaves it as it found it (a service it kills, it starts again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.rest import AirflowRest

# moto's server logs every request it serves; a failing test would print thousands of them.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with Cluster(workers=2) as running:
        print(f"\n[e2e] deployment started in {running.started_in:.0f} s; logs in {running.logs}")
        yield running


@pytest.fixture(scope="session")
def airflow(cluster: Cluster) -> AirflowRest:
    return AirflowRest(cluster.at.api_url)
