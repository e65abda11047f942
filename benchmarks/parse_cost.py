"""Benchmark 4: what a DAG file using ten of our operators adds to DAG parsing.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (timed: the part every DAG pays)
and then imports the DAG file (timed: what ours adds on top). The same is done for a DAG of ten
``HttpOperator`` tasks from the http provider.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, run_child

NAME = "parse_cost"
TARGET_MS = 30.0

#: Ten tasks of a typical campaign-and-extract DAG, spread over the operator modules.
OUR_TASKS = textwrap.dedent(
    """
    from votel_airflow.operators.activity import CallLogExtractOperator
    from votel_airflow.operators.agents import StartCallOperator
    from votel_airflow.operators.communication import SendEmailOperator, SendSmsOperator
    from votel_airflow.operators.contact_exports import ContactExportOperator
    from votel_airflow.operators.contact_imports import UpsertContactsOperator
    from votel_airflow.operators.payments import WalletBalanceCheckOperator
    from votel_airflow.operators.workflows import EnrollContactOperator
    from votel_airflow.sensors.calls import CallCompletedSensor
    from votel_airflow.sensors.communication import MessageDeliverySensor

    with DAG("votel_ten", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
        wallet = WalletBalanceCheckOperator(task_id="wallet", expected_sms=2)
        upsert = UpsertContactsOperator(task_id="upsert", source="/data/leads.jsonl", match_on="phone")
        enroll = EnrollContactOperator(task_id="enroll", workflow_id="wf-1", contact_ids=["c1", "c2"])
        sms = SendSmsOperator(task_id="sms", to=["+14155550101", "+14155550102"], body="Hi", rate_limit=10)
        delivered = MessageDeliverySensor(task_id="delivered", message_ids=sms.output["message_ids"])
        email = SendEmailOperator(task_id="email", to=["a@example.com"], subject="Hi", text="Hello")
        call = StartCallOperator(task_id="call", agent_id="agent-1", to="+14155550103")
        done = CallCompletedSensor(
            task_id="call_done", call_id="{{ ti.xcom_pull('call')['id'] }}", deferrable=True
        )
        logs = CallLogExtractOperator(
            task_id="logs", destination="/data/calls/{{ ds }}.jsonl.gz", format="jsonl.gz"
        )
        export = ContactExportOperator(task_id="export", destination="/data/contacts/{{ ds }}.jsonl")
        wallet >> upsert >> enroll >> sms >> delivered >> email >> call >> done >> logs >> export
    """
)

HTTP_TASKS = textwrap.dedent(
    """
    from airflow.providers.http.operators.http import HttpOperator

    with DAG("http_ten", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
        previous = None
        for n in range(10):
            task = HttpOperator(
                task_id=f"http_{n}", http_conn_id="votel_http", method="GET", endpoint="/api/agents",
                headers={"X-API-Key": "{{ conn.votel_http.password }}"},
            )
            if previous is not None:
                previous >> task
            previous = task
    """
)

CONTROL_TASKS = textwrap.dedent(
    """
    from airflow.sdk import BaseOperator

    class Noop(BaseOperator):
        def execute(self, context):
            return None

    with DAG("control_ten", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
        previous = None
        for n in range(10):
            task = Noop(task_id=f"noop_{n}")
            if previous is not None:
                previous >> task
            previous = task
    """
)

HEADER = "from datetime import datetime\n\nfrom airflow.sdk import DAG\n"


def prepare_import_dag() -> None:
    """Nothing: the child must start cold, the imports are what is measured."""


def import_dag(path: str) -> dict[str, Any]:
    """In a fresh interpreter: time ``import airflow.sdk``, then the DAG file on top of it."""
    import importlib.util
    import time

    started = time.perf_counter()
    import airflow.sdk

    # airflow.sdk loads lazily: resolve what every DAG file uses, so only the DAG's own cost remains.
    airflow.sdk.DAG, airflow.sdk.BaseOperator  # noqa: B018
    sdk_done = time.perf_counter()
    spec = importlib.util.spec_from_file_location("bench_dag", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_done = time.perf_counter()
    return {"sdk_ms": (sdk_done - started) * 1000, "dag_ms": (dag_done - sdk_done) * 1000}


def _compile_package_bytecode() -> None:
    # A DAG processor imports from cached bytecode after its first parse (pip byte-compiles wheels
    # at install). An editable checkout under PYTHONDONTWRITEBYTECODE=1 has none, and every fresh
    # interpreter would recompile our sources: that measures the compiler, not the import.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "votel_airflow"), quiet=1)


def run_parse_cost(samples: int) -> list[Figure]:
    figures: list[Figure] = []
    _compile_package_bytecode()
    with tempfile.TemporaryDirectory(prefix="votel-bench-dags-") as tmp:
        sources = {
            "ours": OUR_TASKS,
            "http_operator": HTTP_TASKS,
            "control (ten no-op operators)": CONTROL_TASKS,
        }
        dags = {}
        for index, (name, source) in enumerate(sources.items()):
            dags[name] = Path(tmp) / f"dag_{index}.py"
            dags[name].write_text(HEADER + source)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in dags}
        for _ in range(samples):
            for name, path in dags.items():
                results[name].append(run_child("benchmarks.parse_cost:import_dag", {"path": str(path)}))
    control = median([r["dag_ms"] for r in results["control (ten no-op operators)"]])
    sdk = [r["sdk_ms"] for rs in results.values() for r in rs]
    figures.append(
        Figure(NAME, "import airflow.sdk alone", median(sdk), "ms", note=f"{len(sdk)} interpreters")
    )
    for name, rs in results.items():
        extra = [r["dag_ms"] for r in rs]
        ours = name == "ours"
        figures.append(
            Figure(
                NAME,
                f"{name}: DAG of ten operators minus airflow.sdk",
                median(extra),
                "ms",
                target=f"< {TARGET_MS:.0f} ms" if ours else "",
                ok=median(extra) < TARGET_MS if ours else None,
                note=f"median of {len(extra)} fresh interpreters; min {min(extra):.1f}, max {max(extra):.1f}"
                + (
                    ""
                    if name.startswith("control")
                    else f"; {median(extra) - control:.0f} ms over the control"
                ),
            )
        )
    return figures
