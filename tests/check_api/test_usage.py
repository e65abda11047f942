"""Which operators, sensors and verbs use an endpoint is read from the code, so it follows the code."""

from __future__ import annotations

import shutil
from pathlib import Path

from votel_airflow import endpoints
from votel_airflow.check_api.usage import PACKAGE_DIR, endpoint_users


def test_an_endpoint_names_its_operator_and_the_hook_verb() -> None:
    users = endpoint_users()

    assert {"SendSmsOperator", "hook.send_sms"} <= set(users[endpoints.SMS])
    assert "TaskExtractOperator" in users[endpoints.TASKS]


def test_an_endpoint_read_by_a_condition_names_the_sensor_that_waits_on_it() -> None:
    users = endpoint_users()

    assert "CallCompletedSensor" in users[endpoints.CALL]
    assert "MessageDeliverySensor" in users[endpoints.MESSAGE]


def test_a_verb_is_traced_to_the_operators_and_notifiers_calling_it() -> None:
    users = endpoint_users()

    # Neither names endpoints.AGENT_CALLS: both reach it through the hook verb.
    assert {"hook.start_call", "StartCallOperator", "VotelCallNotifier"} <= set(users[endpoints.AGENT_CALLS])
    assert {"hook.cancel_call", "CancelCallOperator"} <= set(users[endpoints.CALL_CANCEL])


def test_a_function_called_as_a_module_attribute_is_traced() -> None:
    # The bulk send settles an ambiguous send by reading the messaging logs in
    # votel_airflow.delivery.ambiguity, which it calls as `ambiguity.<function>(...)`.
    users = endpoint_users()

    assert "BulkSendOperator" in users[endpoints.MESSAGING_LOGS]


def test_a_new_operator_is_found_without_any_table_changing(tmp_path: Path) -> None:
    package = tmp_path / "votel_airflow"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "operators" / "wallet_audit.py").write_text(
        "from votel_airflow import endpoints\n"
        "from votel_airflow.operators.base import VotelBaseOperator\n\n\n"
        "def _read(hook):\n"
        "    return hook.get(endpoints.SUBSCRIPTIONS)\n\n\n"
        "class AuditSubscriptionsOperator(VotelBaseOperator):\n"
        "    def execute(self, context):\n"
        "        return _read(self.hook)\n"
    )

    assert "AuditSubscriptionsOperator" not in endpoint_users().get(endpoints.SUBSCRIPTIONS, [])
    assert "AuditSubscriptionsOperator" in endpoint_users(package)[endpoints.SUBSCRIPTIONS]
