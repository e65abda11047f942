"""The charts of the benchmark results, drawn from ``results/latest.json`` by every run.

A figure joins a chart by naming it (``Figure.chart``), its line (``Figure.series``) and its
place on the horizontal axis (``Figure.x``); this module knows only how each chart is titled and
labelled. The SVGs go to ``docs/img/benchmarks/``, where the docs site serves them, and both
``benchmarks/README.md`` and the site's benchmarks page show them between ``charts`` markers
that the run rewrites, each with links relative to itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import REPO
from benchmarks.svg import Axis, Chart, Series, render

CHART_DIR = REPO / "docs" / "img" / "benchmarks"
README = REPO / "benchmarks" / "README.md"
DOCS_PAGE = REPO / "docs" / "reference" / "benchmarks.md"
BEGIN = "<!-- charts:begin -->"
END = "<!-- charts:end -->"

WAITS = Axis("call waits in one triggerer process", log=True)


@dataclass(frozen=True)
class ChartSpec:
    """How one chart is titled and labelled, and the legend label of each of its series."""

    title: str
    x: Axis
    y: Axis
    series: tuple[tuple[str, str], ...]
    description: str


CHARTS: dict[str, ChartSpec] = {
    "trigger_requests_per_interval": ChartSpec(
        "Trigger scale: requests per poll interval",
        WAITS,
        Axis("requests per poll interval", log=True),
        (("shared", "ours (shared polls)"), ("alone", "baseline (one request per wait)")),
        "Requests the sandbox answered per 5 s poll interval while N call waits ran in one "
        "event loop; the baseline is capped by what one loop can send.",
    ),
    "trigger_peak_rss": ChartSpec(
        "Trigger scale: peak RSS of the triggerer process",
        WAITS,
        Axis("peak RSS (MB)"),
        (("shared", "ours (shared polls)"), ("alone", "baseline (one request per wait)")),
        "Peak resident memory of the child process running N call waits.",
    ),
    "extraction_rows_per_second": ChartSpec(
        "Extraction: rows per second against rows",
        Axis("call logs extracted (rows)", log=True),
        Axis("rows/s"),
        (
            ("ours", "ours (CallLogExtractOperator)"),
            ("http_operator", "baseline (HttpOperator)"),
            ("floor", "floor (requests loop)"),
        ),
        "Call logs extracted to jsonl.gz per second of execute(); the floor fetches and drops pages.",
    ),
    "bulk_send_time_per_recipient": ChartSpec(
        "Bulk send: time per recipient against recipients",
        Axis("recipients (one SMS each)", log=True),
        Axis("time per recipient (ms)"),
        (("ours", "ours (SendSmsOperator)"), ("naive", "baseline (naive loop, 2 % faults)")),
        "Wall time of a bulk SMS send over its recipients, against a sandbox limited to "
        "100 requests/s (10 ms per recipient is the limit); the baseline retries injected 500s.",
    ),
}


def charts(runs: Mapping[str, Any]) -> list[Chart]:
    """The charts that ``runs`` (``{benchmark: run}`` as in latest.json) has points for."""
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for run in runs.values():
        for figure in run["figures"]:
            key, series, x = figure.get("chart", ""), figure.get("series", ""), figure.get("x")
            if key in CHARTS and x is not None and isinstance(figure["value"], (int, float)):
                points.setdefault(key, {}).setdefault(series, []).append((float(x), float(figure["value"])))
    drawn = []
    for key, spec in CHARTS.items():
        found = points.get(key, {})
        lines = tuple(Series(label, tuple(sorted(found[s]))) for s, label in spec.series if found.get(s))
        if lines:
            drawn.append(Chart(key, spec.title, spec.x, spec.y, lines, spec.description))
    return drawn


def write_charts(runs: Mapping[str, Any], directory: Path | None = None) -> list[Path]:
    """Draw every chart ``runs`` has points for into ``directory``; return the files written."""
    directory = directory or CHART_DIR
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in charts(runs):
        path = directory / f"{chart.key}.svg"
        path.write_text(render(chart), encoding="utf-8")
        written.append(path)
    return written


def markdown(files: list[Path], page: Path) -> str:
    """Image links to ``files``, relative to ``page``, each with its chart's title as alt text."""
    lines = []
    for path in files:
        spec = CHARTS[path.stem]
        link = Path(os.path.relpath(path, page.parent)).as_posix()
        lines.append(f"![{spec.title}]({link})")
    return "\n\n".join(lines)


def write_links(files: list[Path], pages: tuple[Path, ...] | None = None) -> None:
    """Replace the block between the charts markers of each page with links to ``files``."""
    pages = pages or (README, DOCS_PAGE)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    for page in pages:
        text = page.read_text()
        found = pattern.search(text)
        if not found:
            raise RuntimeError(f"{page} lacks the {BEGIN} ... {END} markers")
        block = f"{BEGIN}\n{markdown(files, page)}\n{END}"
        page.write_text(text[: found.start()] + block + text[found.end() :])


def redraw(
    runs: Mapping[str, Any], directory: Path | None = None, pages: tuple[Path, ...] | None = None
) -> list[Path]:
    """Draw the charts and point the README and the docs page (or ``pages``) at them."""
    files = write_charts(runs, directory)
    write_links(files, pages)
    return files
