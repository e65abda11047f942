"""Payments: the wallet pre-flight check before a campaign, and the wallet's transactions.

The product and subscription catalogues are plain read-only lists: use
:class:`votel_airflow.operators.settings.VotelListOperator` with ``resource="products"`` or
``resource="subscriptions"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from votel_airflow import endpoints
from votel_airflow.compat import AirflowSkipException
from votel_airflow.exceptions import VotelServerError, VotelWalletTooLowError
from votel_airflow.exceptions import WalletTooLowError as WalletTooLowError  # old home, kept one release
from votel_airflow.operators.base import VotelBaseOperator
from votel_airflow.operators.extract import VotelExtractOperator
from votel_airflow.validation import (  # as_amount also importable from here, as before
    as_amount,
    fail,
    require_choice,
)

#: What the sandbox (and the public price list) charges; pass your own prices when yours differ.
DEFAULT_SMS_COST = 0.01
DEFAULT_EMAIL_COST = 0.001
DEFAULT_CALL_COST = 0.10
ON_LOW = ("fail", "skip")


def as_count(field: str, value: Any) -> int:
    """A whole number of at least 0 from an int or its text (templates render to text)."""
    amount = as_amount(field, value)
    if amount != amount.to_integral_value():
        raise fail(field, value, "must be a whole number", "Pass a count such as 1200.")
    return int(amount)


def as_expected(field: str, value: Any) -> int:
    """An expected count: a number (or its text), or a list of recipients whose length is used."""
    if isinstance(value, (list, tuple)):
        return len(value)
    return as_count(field, value)


def _is_static(value: Any) -> bool:
    """A value known at parse time (not a template, not an XComArg), so checkable in ``__init__``."""
    return isinstance(value, (int, float, Decimal, list, tuple)) or (
        isinstance(value, str) and "{{" not in value
    )


def _balance_of(wallet: Any) -> Decimal:
    if not isinstance(wallet, dict) or "balance" not in wallet:
        raise VotelServerError(
            f"GET {endpoints.WALLET} answered {type(wallet).__name__} without a 'balance'",
            method="GET",
            path=endpoints.WALLET,
        )
    return Decimal(str(wallet["balance"]))


class WalletBalanceCheckOperator(VotelBaseOperator):
    """Check the wallet can pay for what comes next; fail, or skip downstream, when it cannot.

    The pre-flight task of a campaign: put it before the sends and calls. The required amount is
    the larger of ``min_balance`` and the estimated cost of the expected sends and calls.

    :param min_balance: the lowest acceptable balance, whatever the campaign's size. Templated.
    :param expected_sms: SMS the campaign will send: a count, or the list of recipients (its
        length is used; an XComArg works). Templated.
    :param expected_emails: e-mails it will send, as a count or a list. Templated.
    :param expected_calls: AI calls it will start, as a count or a list. Templated.
    :param sms_segments: segments per SMS; a long body is billed per segment (160 GSM characters,
        153 per part when split; 70/67 with other characters).
    :param sms_cost: price of one SMS segment (default 0.01, as the sandbox charges).
    :param email_cost: price of one e-mail (default 0.001).
    :param call_cost: price of starting one AI call (default 0.10; talk time is billed on top).
    :param on_low: ``"fail"`` fails the task; ``"skip"`` skips it and, through the default trigger
        rule, everything downstream, so a campaign quietly waits for a top-up.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    template_fields: Sequence[str] = ("min_balance", "expected_sms", "expected_emails", "expected_calls")
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        min_balance: Any = 0,
        expected_sms: Any = 0,
        expected_emails: Any = 0,
        expected_calls: Any = 0,
        sms_segments: int = 1,
        sms_cost: float = DEFAULT_SMS_COST,
        email_cost: float = DEFAULT_EMAIL_COST,
        call_cost: float = DEFAULT_CALL_COST,
        on_low: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_balance = min_balance
        self.expected_sms = expected_sms
        self.expected_emails = expected_emails
        self.expected_calls = expected_calls
        if _is_static(min_balance):
            as_amount("min_balance", min_balance)
        for field in ("expected_sms", "expected_emails", "expected_calls"):
            if _is_static(getattr(self, field)):
                as_expected(field, getattr(self, field))
        self.sms_segments = as_count("sms_segments", sms_segments)
        if self.sms_segments < 1:
            raise fail("sms_segments", sms_segments, "must be at least 1", "An SMS has one segment or more.")
        self.sms_cost = float(as_amount("sms_cost", sms_cost))
        self.email_cost = float(as_amount("email_cost", email_cost))
        self.call_cost = float(as_amount("call_cost", call_cost))
        self.on_low = require_choice("on_low", on_low, ON_LOW)

    def estimated_cost(self) -> Decimal:
        """Cost of the expected sends and calls at the configured prices (after rendering)."""
        sms = as_expected("expected_sms", self.expected_sms) * self.sms_segments
        emails = as_expected("expected_emails", self.expected_emails)
        calls = as_expected("expected_calls", self.expected_calls)
        return (
            sms * Decimal(str(self.sms_cost))
            + emails * Decimal(str(self.email_cost))
            + calls * Decimal(str(self.call_cost))
        )

    def execute(self, context: Any) -> dict[str, Any]:
        minimum = as_amount("min_balance", self.min_balance)
        estimate = self.estimated_cost()
        required = max(minimum, estimate)
        wallet = self.hook.get(endpoints.WALLET)
        balance = _balance_of(wallet)
        currency = str(wallet.get("currency", ""))
        result = {
            "balance": float(balance),
            "currency": currency,
            "required": float(required),
            "estimated_cost": float(estimate),
        }
        if balance >= required:
            self.log.info("Wallet holds %s %s; %s %s required", balance, currency, required, currency)
            return result
        message = (
            f"Wallet balance {balance} {currency} is below the {required} {currency} required "
            f"(min_balance={minimum}, estimated cost {estimate}). Top up the wallet, or lower the "
            "campaign's size."
        )
        if self.on_low == "skip":
            raise AirflowSkipException(message)
        raise VotelWalletTooLowError(message)


class TransactionExtractOperator(VotelExtractOperator):
    """Stream the wallet's transactions in ``[since, until)`` to a file; return the manifest.

    :param destination: file to write: an absolute local path or any URL ``ObjectStoragePath``
        accepts. Templated. A static destination is declared as an Asset.
    :param since: window start (inclusive); default the data interval start. Templated.
    :param until: window end (exclusive); default the data interval end. Templated.
    :param filters: none are defined for this endpoint; kept for the shared signature. Templated.
    :param format: ``jsonl``, ``jsonl.gz`` or ``parquet``.
    :param page_size: records per request, 1 to 500.
    :param votel_conn_id: Airflow connection of type ``votel``.
    """

    endpoint = endpoints.TRANSACTIONS
