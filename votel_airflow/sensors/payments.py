"""Payments sensors: wait for the wallet to be topped up."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

# conditions.Fetch and .Verdict are read when a condition runs: the module loads them then, not at parse.
from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition
from votel_airflow.operators.payments import as_amount
from votel_airflow.sensors.base import VotelSensor


class WalletBalanceCondition(Condition):
    """The wallet holds at least ``min_balance``.

    :param min_balance: the threshold, as text (JSON-safe and exact).
    """

    def __init__(self, *, min_balance: str) -> None:
        super().__init__(min_balance=min_balance)
        self.min_balance = Decimal(min_balance)

    def fetches(self) -> list[conditions.Fetch]:
        return [conditions.Fetch(endpoints.WALLET)]

    def evaluate(self, answers: list[Any]) -> conditions.Verdict:
        wallet = answers[0] if isinstance(answers[0], dict) else {}
        balance = Decimal(str(wallet.get("balance", "0")))
        currency = str(wallet.get("currency", ""))
        if balance >= self.min_balance:
            return conditions.Verdict(
                True,
                message=f"wallet holds {balance} {currency}",
                value={"balance": float(balance), "currency": currency},
            )
        return conditions.Verdict(
            False, message=f"wallet holds {balance} {currency}, waiting for {self.min_balance}"
        )


class WalletBalanceSensor(VotelSensor):
    """Wait until the wallet balance is at least ``min_balance``; return ``{balance, currency}``.

    Put it before a campaign that :class:`~votel_airflow.operators.payments.WalletBalanceCheckOperator`
    would otherwise fail or skip, to wait for a top-up instead.

    :param min_balance: the balance to wait for. Templated.
    :param votel_conn_id: Airflow connection of type ``votel``.
    :param deferrable: hand the wait to the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks.
    :param timeout: seconds to wait before failing.
    """

    template_fields: Sequence[str] = ("min_balance",)

    def __init__(self, *, min_balance: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_balance = min_balance
        if isinstance(min_balance, (int, float)) or (
            isinstance(min_balance, str) and "{{" not in min_balance
        ):
            as_amount("min_balance", min_balance)

    def condition(self, context: Any) -> WalletBalanceCondition:
        return WalletBalanceCondition(min_balance=str(as_amount("min_balance", self.min_balance)))
