"""A small SVG line-chart writer: axes with ticks and units, log or linear scales, a legend.

Our own rather than matplotlib: the charts are a few lines each, and a writer of ~200 lines
gives byte-stable files (matplotlib's SVGs carry dates and random ids, so every redraw would be
a diff), text that stays text (matplotlib turns labels into glyph paths), and no dependency
heavier than the benchmarks themselves. Nothing here is loaded from outside the file: no fonts,
no scripts, no stylesheets; ``<title>`` and ``<desc>`` carry the chart and its data for screen
readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
LEFT, RIGHT, TOP = 78, 32, 44
#: Where the plot ends; the axis label, then the legend's rows (as many as its labels need) follow.
PLOT_BOTTOM = 280
LEGEND_TOP = PLOT_BOTTOM + 62
LEGEND_ROW = 20
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
#: Line colour, dash and marker per series, in order: colour-blind-safe (Okabe-Ito), and told
#: apart by dash and marker too, for print and for readers who do not see the colours.
STYLES = (
    ("#0072B2", "", "circle"),
    ("#D55E00", "6 4", "square"),
    ("#009E73", "2 3", "diamond"),
)


@dataclass(frozen=True)
class Series:
    """One line: its legend label and its (x, y) points."""

    label: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Axis:
    """An axis: its label (with the unit) and whether it is logarithmic."""

    label: str
    log: bool = False


@dataclass(frozen=True)
class Chart:
    """What one SVG shows.

    :param key: the file's stem and the prefix of the SVG's element ids.
    :param title: the heading drawn at the top, also the SVG's ``<title>``.
    :param x: the horizontal axis.
    :param y: the vertical axis.
    :param series: the lines, the first one drawn as "ours" (solid, blue).
    :param description: what the chart shows, in words; the data follow it in ``<desc>``.
    """

    key: str
    title: str
    x: Axis
    y: Axis
    series: tuple[Series, ...]
    description: str = ""


class _Scale:
    """Maps data values to pixels along one axis, linearly or by their logarithm."""

    def __init__(self, values: list[float], log: bool, start: float, end: float) -> None:
        self.log = log
        if log:
            if min(values) <= 0:
                raise ValueError(f"a log axis needs positive values, got {min(values)}")
            self.ticks = _log_ticks(min(values), max(values))
        else:
            self.ticks = _linear_ticks(min(0.0, min(values)), max(values))
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.start, self.end = start, end

    def _t(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def __call__(self, value: float) -> float:
        span = self._t(self.high) - self._t(self.low)
        return self.start + (self._t(value) - self._t(self.low)) / span * (self.end - self.start)


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten around ``low`` to ``high``; 1-2-5 steps, trimmed to the data, over few decades."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    decades = [10.0**e for e in range(first, max(last, first + 1) + 1)]
    if len(decades) > 4:
        return decades
    # A decade or two: powers of ten alone would leave the axis bare, or mostly empty.
    steps = [d * m for d in decades for m in (1, 2, 5)]
    start = max(i for i, t in enumerate(steps) if t <= low * (1 + 1e-9))
    end = min(i for i, t in enumerate(steps) if t >= high * (1 - 1e-9))
    if start == end:
        end += 1
    return steps[start : end + 1]


def _linear_ticks(low: float, high: float) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    count = math.ceil((high - first) / step - 1e-9)
    return [first + i * step for i in range(count + 1)]


def tick_label(value: float) -> str:
    """``10,000``, ``200k``, ``1M``, ``0.5``: short, and exact for the ticks the axes draw."""
    for size, scale, suffix in ((1e6, 1e6, "M"), (1e5, 1e3, "k")):
        if abs(value) >= size:
            return f"{value / scale:g}{suffix}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


def render(chart: Chart) -> str:
    """The chart as a standalone SVG document."""
    points = [p for s in chart.series for p in s.points]
    if not points:
        raise ValueError(f"chart {chart.key!r} has no data")
    xs = _Scale([p[0] for p in points], chart.x.log, LEFT, WIDTH - RIGHT)
    ys = _Scale([p[1] for p in points], chart.y.log, PLOT_BOTTOM, TOP)
    legend, rows = _legend(chart.series)
    height = LEGEND_TOP + (rows - 1) * LEGEND_ROW + 16
    key = chart.key
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{key}-title {key}-desc" '
        f'font-family={quoteattr(FONT)} font-size="12">',
        f'<title id="{key}-title">{escape(chart.title)}</title>',
        f'<desc id="{key}-desc">{escape(_describe(chart))}</desc>',
        # Opaque: the docs site has a dark scheme, and a transparent chart would vanish on it.
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2:g}" y="24" text-anchor="middle" font-size="15" font-weight="600" '
        f'fill="#1a1a1a">{escape(chart.title)}</text>',
    ]
    out += _axes(chart, xs, ys)
    for index, series in enumerate(chart.series):
        out += _line(series, index, xs, ys)
    out += legend
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _axes(chart: Chart, xs: _Scale, ys: _Scale) -> list[str]:
    bottom, top, left, right = PLOT_BOTTOM, TOP, LEFT, WIDTH - RIGHT
    out = ['<g class="grid" stroke="#e3e3e3" stroke-width="1">']
    out += [f'<line x1="{left}" x2="{right}" y1="{ys(t):.1f}" y2="{ys(t):.1f}"/>' for t in ys.ticks]
    out += [f'<line x1="{xs(t):.1f}" x2="{xs(t):.1f}" y1="{top}" y2="{bottom}"/>' for t in xs.ticks]
    out.append("</g>")
    out.append(
        f'<g class="axes" stroke="#4d4d4d" stroke-width="1"><line x1="{left}" x2="{right}" y1="{bottom}" '
        f'y2="{bottom}"/><line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/></g>'
    )
    out.append('<g class="x-ticks" fill="#333333" text-anchor="middle">')
    out += [f'<text x="{xs(t):.1f}" y="{bottom + 16}">{escape(tick_label(t))}</text>' for t in xs.ticks]
    out.append("</g>")
    out.append('<g class="y-ticks" fill="#333333" text-anchor="end">')
    out += [f'<text x="{left - 6}" y="{ys(t) + 4:.1f}">{escape(tick_label(t))}</text>' for t in ys.ticks]
    out.append("</g>")
    x_label = chart.x.label + (" (log scale)" if chart.x.log else "")
    y_label = chart.y.label + (" (log scale)" if chart.y.log else "")
    middle = (top + bottom) / 2
    out.append(
        f'<text class="x-label" x="{(left + right) / 2:g}" y="{bottom + 36}" text-anchor="middle" '
        f'fill="#1a1a1a">{escape(x_label)}</text>'
    )
    out.append(
        f'<text class="y-label" x="16" y="{middle:g}" text-anchor="middle" fill="#1a1a1a" '
        f'transform="rotate(-90 16 {middle:g})">{escape(y_label)}</text>'
    )
    return out


def _line(series: Series, index: int, xs: _Scale, ys: _Scale) -> list[str]:
    colour, dash, marker = STYLES[index % len(STYLES)]
    placed = [(xs(x), ys(y)) for x, y in sorted(series.points)]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    out = [f'<g class="series" data-label={quoteattr(series.label)}>']
    out.append(
        f'<polyline fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr} '
        f'points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in placed)}"/>'
    )
    out += [_marker(marker, px, py, colour) for px, py in placed]
    out.append("</g>")
    return out


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    corners = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"
    return f'<polygon points="{corners}" fill="{colour}"/>'


def _legend(series: tuple[Series, ...]) -> tuple[list[str], int]:
    """The legend's elements and its number of rows: a label that would cross the right edge
    starts a new row."""
    out = ['<g class="legend" fill="#1a1a1a">']
    x, y, rows = LEFT, LEGEND_TOP, 1
    for index, s in enumerate(series):
        colour, dash, marker = STYLES[index % len(STYLES)]
        # No text measuring in plain SVG: an estimate of the label's width at 12 px.
        width = 34 + int(len(s.label) * 6.6)
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, y, rows = LEFT, y + LEGEND_ROW, rows + 1
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x}" x2="{x + 28}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/>'
        )
        out.append(_marker(marker, x + 14, y - 4, colour))
        out.append(f'<text x="{x + 34}" y="{y}">{escape(s.label)}</text>')
        x += width + 24
    out.append("</g>")
    return out, rows


def _describe(chart: Chart) -> str:
    data = "; ".join(
        f"{s.label}: " + ", ".join(f"{tick_label(x)} → {_value(y)}" for x, y in sorted(s.points))
        for s in chart.series
    )
    lead = f"{chart.description} " if chart.description else ""
    return f"{lead}{chart.y.label} against {chart.x.label}. {data}."


def _value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
