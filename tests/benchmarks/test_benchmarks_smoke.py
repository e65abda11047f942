"""Each benchmark still runs end to end at toy scale, so the harness cannot rot unnoticed.

No timing is asserted here: the figures are only checked to exist and to be well formed, and the
correctness parts a benchmark measures (rows extracted, no duplicate SMS, every trigger fired)
are checked because a broken harness would get them wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import charts, run
from benchmarks.common import Figure
from benchmarks.report import BEGIN, END, write_readme


def _by_name(figures: list[Figure]) -> dict[str, Figure]:
    return {f.name: f for f in figures}


def _charted(figures: list[Figure]) -> dict[str, list[str]]:
    """``{chart: [its series' labels]}`` that the figures draw."""
    drawn = charts.charts({"toy": {"figures": [f.as_dict() for f in figures]}})
    return {c.key: [s.label for s in c.series] for c in drawn}


def _toy(name: str) -> list[Figure]:
    figures = run._benchmarks(run.TOY, 1)[name]()
    assert figures
    for figure in figures:
        assert figure.benchmark == name
        assert figure.line().startswith(name)
        json.dumps(figure.as_dict())
    return figures


def test_extraction_benchmark_measures_all_three_variants_at_both_sizes() -> None:
    small, large = run.TOY.extraction_sizes
    figures = _by_name(_toy("extraction"))
    for variant in ("floor", "ours", "http_operator"):
        for size in (small, large):
            assert figures[f"{variant} rows/s @ {size:,}"].value > 0  # type: ignore[operator]
            assert figures[f"{variant} peak RSS @ {size:,}"].value > 0  # type: ignore[operator]
    assert f"ours/floor rows/s @ {large:,}" in figures
    drawn = _charted(list(figures.values()))
    assert list(drawn) == ["extraction_rows_per_second"]
    assert len(drawn["extraction_rows_per_second"]) == 3


def test_thread_message_benchmark_counts_the_requests_read_by_id_and_listed() -> None:
    small, large = run.TOY.thread_sizes
    figures = _by_name(_toy("thread_message"))
    for size in (small, large):
        # The contact, the STOP replies, the contact's sends of the cap's day, the POST.
        assert figures[f"{size:,} contacts, read by id: requests"].value == 4
    # The listing grows with the CRM: every contact and the day's log, a page per 500.
    assert figures[f"{large:,} contacts, listed (before): requests"].value == 1 + 2 * (large // 500 + 1) + 1


def test_outreach_benchmark_measures_the_policy_the_send_and_a_few_recipients() -> None:
    contacts = run.TOY.outreach[0]
    figures = _by_name(_toy("outreach"))
    assert figures[f"policy wall time, {contacts:,} recipients"].value > 0  # type: ignore[operator]
    assert figures["policy peak RSS"].value > 0  # type: ignore[operator]
    assert figures["policy / send"].ok is not None
    # 3 searches, the STOP replies, 3 reads of the cap's day: whatever the CRM's size.
    assert figures["3 recipients, looked up: requests"].value == 7


def test_rate_limited_benchmark_reports_no_failed_request() -> None:
    figures = _by_name(_toy("rate_limited"))
    assert figures["failed requests (non-200, non-429)"].value == 0


def test_parquet_benchmark_measures_the_three_writers_at_both_sizes() -> None:
    small, large = run.TOY.extraction_sizes
    figures = _by_name(_toy("parquet"))
    for variant in ("jsonl_gz", "parquet", "parquet_first_page"):
        for size in (small, large):
            assert figures[f"{variant} rows/s @ {size:,}"].value > 0  # type: ignore[operator]
            assert figures[f"{variant} peak RSS @ {size:,}"].value > 0  # type: ignore[operator]
    assert f"parquet peak RSS growth {small:,} -> {large:,}" in figures


@pytest.mark.parametrize("name", ["shared_limit", "shared_limit_tight"])
def test_shared_limit_benchmark_runs_eight_extracts_in_both_modes(name: str) -> None:
    figures = _by_name(_toy(name))
    for variant in ("today", "adaptive"):
        assert figures[f"{variant} aggregate rows/s"].value > 0  # type: ignore[operator]
        assert 0 <= figures[f"{variant} 429 share of requests"].value <= 1  # type: ignore[operator]
        assert f"{variant} failed tasks (of 8)" in figures


def test_bulk_send_benchmark_counts_every_recipient_reached_once_by_ours() -> None:
    figures = _by_name(_toy("bulk_send"))
    count = run.TOY.sms
    assert figures["ours failed sends (recipients never reached)"].value == 0
    assert figures["ours duplicate SMS"].value == 0
    assert figures[f"naive +faults wall time ({count:,} SMS @ 100/s)"].value > 0  # type: ignore[operator]
    # Time per recipient at each charted size, ours against the naive loop.
    for size in (*run.TOY.sms_chart_sizes, count):
        assert figures[f"ours ms per recipient @ {size:,}"].x == size
        assert figures[f"naive +faults ms per recipient @ {size:,}"].value > 0  # type: ignore[operator]
    assert list(_charted(list(figures.values()))) == ["bulk_send_time_per_recipient"]


def test_progress_benchmark_measures_both_variants_and_a_kill_with_a_retry() -> None:
    small, large = run.TOY.progress_sizes
    figures = _by_name(_toy("progress"))
    for variant, size in [("chunked", small), ("chunked", large), ("today", run.TOY.progress_today_sizes[0])]:
        assert figures[f"{variant} task seconds @ {size:,}"].value > 0  # type: ignore[operator]
        assert figures[f"{variant} peak RSS @ {size:,}"].value > 0  # type: ignore[operator]
        assert figures[f"{variant} duplicate / missing SMS @ {size:,}"].value == "0 / 0"
    # Chunks: what the task wrote is about the final progress, whatever the size.
    assert figures[f"chunked state-store bytes / final progress @ {large:,}"].ok
    assert f"chunked time per recipient {large:,} / {small:,}" in figures
    kill = figures[f"SIGKILL at 50% + retry @ {run.TOY.progress_kill_size:,}: duplicate / missing SMS"]
    assert kill.value == "0 / 0"
    assert kill.ok


def test_parse_cost_benchmark_times_ours_http_and_the_control() -> None:
    names = set(_by_name(_toy("parse_cost")))
    assert "import airflow.sdk alone" in names
    assert {n.split(":")[0] for n in names} >= {"ours", "http_operator", "control (ten no-op operators)"}


def test_trigger_benchmark_sees_every_trigger_fire() -> None:
    figures = _by_name(_toy("triggers"))
    assert figures["triggers that fired success"].value == run.TOY.triggers
    drawn = _charted(list(figures.values()))
    assert list(drawn) == ["trigger_requests_per_interval", "trigger_peak_rss"]
    assert all(len(labels) == 2 for labels in drawn.values())  # ours against the baseline


def test_run_rejects_an_unknown_benchmark_name() -> None:
    with pytest.raises(SystemExit):
        run.main(["--toy", "--only", "nope", "--no-write"])


def test_results_table_replaces_only_the_marked_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{BEGIN}\nold\n{END}\n\noutro\n")
    figure = Figure("demo", "rows/s", 1234.5, "rows/s", target=">= 0.9", ok=True, samples=[1.5, 2.5])
    runs = {
        "demo": {
            "command": "python -m benchmarks.run --only demo",
            "scale": "toy",
            "runs": 2,
            "started": "2026-01-01T00:00:00Z",
            "machine": {"nproc": 2, "cpu": "cpu", "python": "3.11"},
            "figures": [figure.as_dict()],
        }
    }
    write_readme(runs, readme)
    text = readme.read_text()
    assert text.startswith("intro\n")
    assert text.endswith("outro\n")
    assert "old" not in text
    assert "| rows/s | 1,234 | rows/s | >= 0.9 | pass | 1.5, 2.5 |" in text
