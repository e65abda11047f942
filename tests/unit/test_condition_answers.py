"""A condition's GET answered without a ``status``: a server error naming the request, never a wait."""

from __future__ import annotations

from typing import Any

import pytest

from votel_airflow.conditions import Condition, answered_status
from votel_airflow.conditions.calls import CallCompletedCondition
from votel_airflow.conditions.communication import MessageDeliveryCondition
from votel_airflow.conditions.workflows import CampaignCondition
from votel_airflow.exceptions import VotelServerError


@pytest.mark.parametrize("answer", [None, [], "completed", {}, {"status": None}, {"status": 3}])
def test_an_answer_without_a_string_status_is_a_server_error(answer: Any) -> None:
    with pytest.raises(VotelServerError, match=r"^GET call c_1 answered without a status; see$"):
        answered_status(answer, "GET call c_1", "; see")


def test_the_status_of_an_object_is_returned() -> None:
    assert answered_status({"status": "queued", "id": "c_1"}, "GET call c_1") == "queued"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            CallCompletedCondition(call_id="c_9"),
            "GET /activity/calls/c_9 answered without a status; expected a call object",
        ),
        (CampaignCondition(campaign_id="cmp_4"), "GET campaign cmp_4 answered without a status"),
        (MessageDeliveryCondition(message_ids=["m_2"]), "GET message m_2 answered without a status"),
    ],
    ids=["call", "campaign", "message"],
)
def test_each_condition_names_its_request(condition: Condition, message: str) -> None:
    fetches = condition.fetches()  # a round must be asked for before it is judged

    with pytest.raises(VotelServerError) as raised:
        condition.evaluate([{"id": "x"} for _ in fetches])

    assert str(raised.value).startswith(message)
