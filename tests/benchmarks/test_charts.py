"""The benchmark charts: well-formed, readable SVG, and the pages that show them link real files."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from benchmarks import charts, run
from benchmarks.common import REPO, Figure
from benchmarks.svg import Axis, Chart, Series, render, tick_label

SVG = "{http://www.w3.org/2000/svg}"


def _chart(*series: Series, x_log: bool = False, y_log: bool = False) -> Chart:
    return Chart("demo", "Demo chart", Axis("waits", log=x_log), Axis("requests", log=y_log), series)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element, group: str) -> list[str]:
    node = root.find(f"{SVG}g[@class='{group}']")
    assert node is not None
    return [t.text or "" for t in node.iter(f"{SVG}text")]


def _placed(root: ET.Element, label: str) -> list[tuple[float, float]]:
    for group in root.iter(f"{SVG}g"):
        if group.get("data-label") == label:
            line = group.find(f"{SVG}polyline")
            assert line is not None
            return [(float(x), float(y)) for x, y in (p.split(",") for p in line.get("points", "").split())]
    raise AssertionError(f"no series {label!r}")


def test_chart_is_an_svg_document_with_a_title_and_description_for_screen_readers() -> None:
    root = _parse(render(_chart(Series("ours", ((1.0, 2.0), (2.0, 3.0))))))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert title.text == "Demo chart"
    assert desc is not None
    assert "ours: 1 → 2, 2 → 3" in (desc.text or "")
    assert set((root.get("aria-labelledby") or "").split()) == {title.get("id"), desc.get("id")}


def test_chart_loads_nothing_from_outside_the_file() -> None:
    svg = render(_chart(Series("ours", ((1.0, 2.0), (2.0, 3.0)))))
    assert "<script" not in svg
    assert "@import" not in svg
    assert "url(" not in svg
    assert "href" not in svg


def test_increasing_data_is_placed_rightwards_and_upwards() -> None:
    points = ((1_000.0, 4.6), (3_000.0, 8.0), (10_000.0, 15.2))
    for x_log, y_log in ((False, False), (True, True)):
        placed = _placed(_parse(render(_chart(Series("ours", points), x_log=x_log, y_log=y_log))), "ours")
        xs, ys = [p[0] for p in placed], [p[1] for p in placed]
        assert xs == sorted(xs)
        assert len(set(xs)) == 3
        # SVG's y grows downwards: a larger value sits higher, at a smaller y.
        assert ys == sorted(ys, reverse=True)
        assert len(set(ys)) == 3


def test_points_are_drawn_in_order_of_x_whatever_order_they_come_in() -> None:
    placed = _placed(_parse(render(_chart(Series("ours", ((10.0, 1.0), (1.0, 3.0), (5.0, 2.0)))))), "ours")
    assert [p[0] for p in placed] == sorted(p[0] for p in placed)


def test_log_axis_ticks_are_the_decades_spanned_and_evenly_spaced() -> None:
    chart = _chart(Series("ours", ((1_000.0, 4.6), (10_000.0, 1_418.0))), x_log=True, y_log=True)
    root = _parse(render(chart))
    assert _texts(root, "y-ticks") == ["1", "10", "100", "1,000", "10,000"]
    positions = [float(t.get("y", "0")) for t in root.iter(f"{SVG}text") if t.text in ("1", "10", "100")]
    assert positions[0] - positions[1] == pytest.approx(positions[1] - positions[2], abs=0.2)


def test_a_log_axis_of_one_decade_gets_ticks_between_its_ends() -> None:
    root = _parse(render(_chart(Series("ours", ((1_000.0, 1.0), (10_000.0, 2.0))), x_log=True)))
    assert _texts(root, "x-ticks") == ["1,000", "2,000", "5,000", "10,000"]


def test_a_log_axis_of_few_decades_is_trimmed_to_the_data() -> None:
    root = _parse(render(_chart(Series("ours", ((500.0, 1.0), (5_000.0, 2.0))), x_log=True)))
    assert _texts(root, "x-ticks") == ["500", "1,000", "2,000", "5,000"]


def test_linear_axis_starts_at_zero_and_covers_the_largest_value() -> None:
    root = _parse(render(_chart(Series("ours", ((1.0, 130.0), (2.0, 246.0))))))
    ticks = [float(t.replace(",", "")) for t in _texts(root, "y-ticks")]
    assert ticks[0] == 0
    assert ticks[-1] >= 246


def test_axis_labels_say_when_the_scale_is_logarithmic() -> None:
    root = _parse(render(_chart(Series("ours", ((1.0, 2.0), (10.0, 3.0))), x_log=True)))
    labels = {t.get("class"): t.text for t in root.iter(f"{SVG}text") if t.get("class")}
    assert labels == {"x-label": "waits (log scale)", "y-label": "requests"}


def test_legend_names_every_series() -> None:
    chart = _chart(Series("ours (shared polls)", ((1.0, 1.0),)), Series("baseline", ((1.0, 2.0),)))
    assert _texts(_parse(render(chart)), "legend") == ["ours (shared polls)", "baseline"]


def test_a_legend_too_wide_for_one_row_wraps_inside_the_chart() -> None:
    labels = ["ours (CallLogExtractOperator)", "baseline (HttpOperator)", "floor (requests loop)"]
    root = _parse(render(_chart(*(Series(label, ((1.0, 1.0),)) for label in labels))))
    legend = root.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    texts = list(legend.iter(f"{SVG}text"))
    assert len({t.get("y") for t in texts}) == 2
    height = float(root.get("height", "0"))
    assert all(float(t.get("y", "0")) < height for t in texts)
    # Rightmost label start plus its estimated width stays inside.
    assert all(
        float(t.get("x", "0")) + len(t.text or "") * 6.6 <= float(root.get("width", "0")) for t in texts
    )


def test_labels_are_escaped() -> None:
    label = 'ours <shared> & "fast"'
    chart = Chart("demo", "A & B < C", Axis("x <n>"), Axis("y & z"), (Series(label, ((1.0, 2.0),)),))
    root = _parse(render(chart))
    assert _texts(root, "legend") == [label]
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "A & B < C"
    assert [g.get("data-label") for g in root.iter(f"{SVG}g") if g.get("data-label")] == [label]


def test_a_log_axis_refuses_values_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="positive"):
        render(_chart(Series("ours", ((0.0, 1.0), (1.0, 2.0))), x_log=True))


def test_tick_labels_are_short() -> None:
    assert [tick_label(v) for v in (0.5, 20, 1_000, 10_000, 250_000, 1_000_000)] == [
        "0.5",
        "20",
        "1,000",
        "10,000",
        "250k",
        "1M",
    ]


def _runs(*figures: Figure) -> dict[str, Any]:
    return {"triggers": {"figures": [f.as_dict() for f in figures]}}


def _point(series: str, x: int, value: Any) -> Figure:
    return Figure("triggers", f"{series} @ {x}", value, chart="trigger_peak_rss", series=series, x=x)


def test_charts_take_the_figures_that_name_them_as_lines_with_legend_labels() -> None:
    runs = _runs(
        _point("shared", 10_000, 246.0),
        _point("shared", 1_000, 136.0),
        _point("alone", 1_000, 129.0),
        Figure("triggers", "unrelated", 3.0, x=5),
    )
    [chart] = charts.charts(runs)
    assert chart.key == "trigger_peak_rss"
    assert [s.label for s in chart.series] == ["ours (shared polls)", "baseline (one request per wait)"]
    assert chart.series[0].points == ((1_000.0, 136.0), (10_000.0, 246.0))


def test_results_saved_before_figures_named_charts_draw_nothing() -> None:
    old = Figure("triggers", "peak RSS", 1.0).as_dict()
    for key in ("chart", "series", "x"):
        del old[key]
    assert charts.charts({"triggers": {"figures": [old]}}) == []


def test_redraw_writes_the_svgs_and_links_them_relative_to_each_page(tmp_path: Path) -> None:
    pages = (tmp_path / "bench" / "README.md", tmp_path / "docs" / "reference" / "benchmarks.md")
    for page in pages:
        page.parent.mkdir(parents=True)
        page.write_text(f"before\n{charts.BEGIN}\nold\n{charts.END}\nafter\n")
    files = charts.redraw(_runs(_point("shared", 1_000, 136.0)), tmp_path / "docs" / "img", pages)
    assert [f.name for f in files] == ["trigger_peak_rss.svg"]
    _parse(files[0].read_text())
    assert "](../docs/img/trigger_peak_rss.svg)" in pages[0].read_text()
    assert "](../img/trigger_peak_rss.svg)" in pages[1].read_text()
    assert all("old" not in p.read_text() and "after" in p.read_text() for p in pages)


def test_charts_only_redraws_from_the_saved_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "latest.json"
    results.write_text(json.dumps({"benchmarks": _runs(_point("shared", 1_000, 136.0))}))
    drawn: list[Any] = []

    def redraw(runs: Any) -> list[Path]:
        drawn.append(runs)
        return []

    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "redraw", redraw)
    assert run.main(["--charts-only"]) == 0
    assert drawn == [json.loads(results.read_text())["benchmarks"]]


LINK = re.compile(r"!\[[^\]]*\]\(([^)]+\.svg)\)")
PAGES = [charts.README, *sorted((REPO / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", [charts.README, charts.DOCS_PAGE], ids=lambda p: p.name)
def test_the_readme_and_the_benchmarks_page_show_every_chart(page: Path) -> None:
    assert {Path(link).stem for link in LINK.findall(page.read_text())} == set(charts.CHARTS)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_svg_a_page_links_exists(page: Path) -> None:
    for link in LINK.findall(page.read_text()):
        target = (page.parent / link).resolve()
        assert target.is_file(), f"{page.relative_to(REPO)} links {link}, which does not exist"
        _parse(target.read_text())


def test_the_committed_charts_are_those_the_saved_results_draw() -> None:
    saved = json.loads(run.RESULTS.read_text())["benchmarks"]
    for chart in charts.charts(saved):
        assert (charts.CHART_DIR / f"{chart.key}.svg").read_text() == render(chart)
