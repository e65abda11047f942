"""Payments: the wait for the wallet to hold at least a balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from votel_airflow import conditions, endpoints
from votel_airflow.conditions import Condition


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
