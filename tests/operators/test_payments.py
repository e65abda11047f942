"""Payments operators against the sandbox: the wallet pre-flight check and the transaction extract."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support import dagrun_task_states, make_context, run_dag, write_dag
from votel_airflow.compat import AirflowSkipException
from votel_airflow.exceptions import VotelInputError, VotelPaymentRequiredError
from votel_airflow.operators.payments import (
    TransactionExtractOperator,
    WalletBalanceCheckOperator,
    WalletTooLowError,
)


def check(**kwargs: object) -> WalletBalanceCheckOperator:
    return WalletBalanceCheckOperator(task_id="wallet", **kwargs)  # type: ignore[arg-type]


def test_wallet_check_returns_balance_currency_and_required(votel_sandbox, votel_api_key, votel_connection):
    votel_sandbox.admin.set_wallet(votel_api_key, 12.5)

    result = check(min_balance=1, expected_sms=200, expected_emails=1000, expected_calls=10).execute(
        make_context()
    )

    # 200 SMS x 0.01 + 1000 e-mails x 0.001 + 10 calls x 0.10 = 4.0, above min_balance.
    assert result == {"balance": 12.5, "currency": "USD", "required": 4.0, "estimated_cost": 4.0}
    assert json.loads(json.dumps(result)) == result


def test_wallet_check_fails_when_balance_is_below_estimated_cost(
    votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 3.0)

    with pytest.raises(WalletTooLowError, match=r"3(\.0+)? USD is below the 4(\.0+)? USD required") as info:
        check(expected_calls=40).execute(make_context())

    assert isinstance(info.value, VotelPaymentRequiredError)


def test_wallet_check_counts_every_sms_segment(votel_sandbox, votel_api_key, votel_connection):
    votel_sandbox.admin.set_wallet(votel_api_key, 2.5)

    assert check(expected_sms=100, sms_segments=2).execute(make_context())["required"] == 2.0
    with pytest.raises(WalletTooLowError):
        check(expected_sms=100, sms_segments=3).execute(make_context())


def test_wallet_check_fails_below_min_balance_even_with_nothing_to_send(
    votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 9.99)

    with pytest.raises(WalletTooLowError, match="min_balance=10"):
        check(min_balance=10).execute(make_context())


def test_wallet_check_skips_instead_of_failing_with_on_low_skip(
    votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 0)

    with pytest.raises(AirflowSkipException, match="Top up the wallet"):
        check(expected_sms=1, on_low="skip").execute(make_context())


def test_wallet_check_counts_a_list_of_recipients_as_its_length(
    votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 100)

    result = check(expected_sms=["+14155550101", "+14155550102", "+14155550103"]).execute(make_context())

    assert result["required"] == pytest.approx(0.03)


def test_wallet_check_rejects_a_non_numeric_count_before_any_request(
    votel_sandbox, votel_api_key, votel_connection
):
    operator = check(expected_sms="{{ params.n }}")
    operator.expected_sms = "a dozen"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"expected_sms='a dozen': is not a number"):
        operator.execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_wallet_check_rejects_a_negative_static_threshold_at_parse_time():
    with pytest.raises(VotelInputError, match=r"min_balance=-1: must be a finite number of at least 0"):
        check(min_balance=-1)
    with pytest.raises(VotelInputError, match="on_low='warn'"):
        check(on_low="warn")


def test_wallet_check_renders_templated_counts_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 50)
    out = tmp_path / "result.json"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.payments import WalletBalanceCheckOperator

        with DAG("wallet_check_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"sms": 300, "floor": 2}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            check = WalletBalanceCheckOperator(
                task_id="check",
                min_balance="{{{{ params.floor }}}}",
                expected_sms="{{{{ params.sms }}}}",
                expected_emails="{{{{ 1000 * 2 }}}}",
                expected_calls="{{{{ params.sms // 100 }}}}",
            )

            @task
            def keep(result):
                open({str(out)!r}, "w").write(__import__("json").dumps(result))

            keep(check.output)
        """,
    )

    dagrun = run_dag(dags, "wallet_check_dag")

    assert dagrun_task_states(dagrun) == {"check": "success", "keep": "success"}
    # 300 x 0.01 + 2000 x 0.001 + 3 x 0.10 = 5.3
    assert json.loads(out.read_text()) == {
        "balance": 50.0,
        "currency": "USD",
        "required": pytest.approx(5.3),
        "estimated_cost": pytest.approx(5.3),
    }


def test_wallet_check_on_low_skip_skips_the_campaign_downstream(
    dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.set_wallet(votel_api_key, 0.5)
    write_dag(
        dags,
        """
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.payments import WalletBalanceCheckOperator

        with DAG("wallet_skip_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 default_args={"retries": 0, "retry_delay": timedelta(0)}):
            @task
            def campaign():
                raise RuntimeError("must not run")

            WalletBalanceCheckOperator(task_id="check", expected_calls=10, on_low="skip") >> campaign()
        """,
    )

    dagrun = run_dag(dags, "wallet_skip_dag")

    assert dagrun_task_states(dagrun) == {"check": "skipped", "campaign": "skipped"}


def _transactions(api_key: str, sandbox) -> list[dict]:
    import requests

    response = requests.get(
        f"{sandbox.base_url}/payments/transactions",
        headers={"X-API-Key": api_key},
        params={"limit": 500},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def test_transaction_extract_writes_the_window_and_returns_the_manifest(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    everything = _transactions(votel_api_key, votel_sandbox)
    assert len(everything) > 2, "the seeded account should have transactions"
    since = everything[1]["created_at"]
    until = everything[-1]["created_at"]
    expected = [t for t in everything if since <= t["created_at"] < until]
    destination = tmp_path / "out" / "transactions.jsonl"

    manifest = TransactionExtractOperator(
        task_id="tx", destination=str(destination), since=since, until=until, page_size=7
    ).execute(make_context())

    rows = [json.loads(line) for line in destination.read_text().splitlines()]
    assert [r["id"] for r in rows] == [t["id"] for t in expected]
    assert manifest["records"] == len(expected)
    assert manifest["uri"] == f"file://{destination}"
    assert manifest["format"] == "jsonl"


def test_transaction_extract_rejects_an_inverted_window_and_writes_nothing(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    destination = tmp_path / "transactions.jsonl"
    votel_sandbox.admin.reset_stats()
    operator = TransactionExtractOperator(
        task_id="tx",
        destination=str(destination),
        since=datetime(2026, 2, 1, tzinfo=timezone.utc),
        until=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )

    with pytest.raises(VotelInputError, match="until='2026-01-01T00:00:00"):
        operator.execute(make_context())

    assert not list(tmp_path.iterdir())
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_transaction_extract_renders_its_templated_fields_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    everything = _transactions(votel_api_key, votel_sandbox)
    since, until = everything[0]["created_at"], everything[-1]["created_at"]
    # A window holding no transaction would compare two empty lists below.
    assert any(since <= t["created_at"] < until for t in everything)
    out = tmp_path / "out"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.payments import TransactionExtractOperator

        with DAG("transactions_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"since": {since!r}, "until": {until!r}, "out": {str(out)!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            tx = TransactionExtractOperator(
                task_id="tx", format="jsonl.gz",
                destination="{{{{ params.out }}}}/{{{{ ds_nodash }}}}.jsonl.gz",
                since="{{{{ params.since }}}}", until="{{{{ params.until }}}}", filters={{}},
            )

            @task
            def keep(manifest):
                open({str(tmp_path / "manifest.json")!r}, "w").write(__import__("json").dumps(manifest))

            keep(tx.output)
        """,
    )

    dagrun = run_dag(dags, "transactions_dag")

    assert dagrun_task_states(dagrun) == {"tx": "success", "keep": "success"}
    import gzip

    [written] = list(out.glob("*.jsonl.gz"))
    rows = [json.loads(line) for line in gzip.decompress(written.read_bytes()).splitlines()]
    assert [r["id"] for r in rows] == [t["id"] for t in everything if since <= t["created_at"] < until]
    assert json.loads((tmp_path / "manifest.json").read_text())["records"] == len(rows) > 0
