"""Payments sensors: wait for the wallet to be topped up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from votel_airflow.conditions.payments import WalletBalanceCondition
from votel_airflow.sensors.base import VotelSensor
from votel_airflow.validation import as_amount, is_template

# WalletBalanceCondition was defined here before it moved to votel_airflow.conditions.payments:
# deferred tasks serialized earlier name this module, so it stays importable from it.
__all__ = ["WalletBalanceCondition", "WalletBalanceSensor"]


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
            isinstance(min_balance, str) and not is_template(min_balance)
        ):
            as_amount("min_balance", min_balance)

    def condition(self, context: Any) -> WalletBalanceCondition:
        return WalletBalanceCondition(min_balance=str(as_amount("min_balance", self.min_balance)))
