"""The pytest plugin's fixtures, as a user's DAG test would use them."""

from __future__ import annotations

import json
import os

import requests


def test_votel_connection_points_the_default_connection_at_the_sandbox(
    votel_sandbox, votel_api_key, votel_connection
):
    assert votel_connection == "votel_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_VOTEL_DEFAULT"])
    assert conn == {"conn_type": "votel", "host": votel_sandbox.base_url, "password": votel_api_key}
    response = requests.get(f"{conn['host']}/agents", headers={"X-API-Key": conn["password"]}, timeout=10)
    assert response.status_code == 200


def test_votel_api_key_is_a_fresh_tenant_each_time(votel_sandbox, votel_api_key):
    assert votel_api_key not in votel_sandbox.api_keys
    assert votel_sandbox.admin.records(votel_api_key, "sms") == []


def test_hook_reads_the_connection(votel_connection):
    from votel_airflow.hooks.votel import VotelHook

    agents = VotelHook(votel_connection).request("GET", "/agents")
    assert agents[0]["name"] == "Sales Assistant"


def test_plugin_is_registered_as_a_pytest11_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "votel_airflow.testing" in names
