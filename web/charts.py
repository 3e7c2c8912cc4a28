"""Bar charts as SVG geometry, drawn by `templates/charts.html` on the server.

Why not a chart library: pygal, the maintained Python SVG chart library, writes a `<style>` element and a
`<script>` into every chart, and the pages' Content-Security-Policy (`style-src 'self'; script-src 'self'`)
blocks both in an inline SVG; its colours live in that style element, so without it the bars lose them.
A chart here is only rectangles with class names: colours come from `static/admin.css` (light and dark),
each bar has a `<title>` (its value on hover), and each chart an accessible name and a data table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

# The SVG scales to its box (about 300-480 CSS px wide): a viewBox near that width keeps the 12-unit labels
# (static/admin.css) at 10-16 px on screen; at 600 units they shrank to ~5 px on a phone.
WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 24  # room for the value axis (left) and the date labels (below)
STAR_CLASSES = [f"stars-{n}" for n in range(1, 6)]
STAR_LABELS = [f"{n} ★" for n in range(1, 6)]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    """A chart's drawing (`bars`, axis `labels`, `gridlines`) and its data table (`columns`, `rows`)."""

    key: str
    title: str
    summary: str
    bars: list[Bar]
    labels: list[Label]
    gridlines: list[float]
    columns: list[str]
    rows: list[tuple[str, list[int]]]
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT


def nice_ceiling(value: int) -> int:
    """The axis maximum: `value` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _axis(top_value: int) -> tuple[list[float], list[Label]]:
    plot = HEIGHT - TOP - BOTTOM
    lines, labels = [], []
    for fraction in (0, 0.5, 1):
        y = TOP + plot * (1 - fraction)
        value = top_value * fraction
        lines.append(y)
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
        labels.append(Label(LEFT - 4, y + 4, text, "end"))
    return lines, labels


def stacked_bars(
    key: str,
    title: str,
    categories: list[str],
    series: list[list[int]],
    *,
    series_names: list[str],
    series_classes: list[str],
    tick_every: int | None = None,
) -> Chart:
    """One bar per category, stacked from `series` (`series[c][s]`: category c, series s)."""
    totals = [sum(values) for values in series]
    top_value = nice_ceiling(max(totals, default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(categories), 1)
    bar_width = max(slot * 0.8, 1)
    bars: list[Bar] = []
    for index, (category, values) in enumerate(zip(categories, series, strict=True)):
        x = LEFT + index * slot + (slot - bar_width) / 2
        base = TOP + plot_height
        for name, css, value in zip(series_names, series_classes, values, strict=True):
            if not value:
                continue
            height = plot_height * value / top_value
            base -= height
            # the bar's own tooltip; `title` stays the chart's (it was named after its last bar)
            tip = f"{category}: {value}" if len(series_names) == 1 else f"{category}, {name}: {value}"
            bars.append(Bar(round(x, 2), round(base, 2), round(bar_width, 2), round(height, 2), css, tip))
    gridlines, labels = _axis(top_value)
    every = tick_every or max(1, math.ceil(len(categories) / 6))
    for index, category in enumerate(categories):
        if index % every == 0:
            labels.append(Label(round(LEFT + index * slot + slot / 2, 2), HEIGHT - 6, category))
    total = sum(totals)
    summary = f"{total} in all over {len(categories)} {'days' if tick_every is None else 'groups'}"
    legend = list(zip(series_names, series_classes, strict=True)) if len(series_names) > 1 else []
    columns = series_names if len(series_names) > 1 else [title]
    rows = list(zip(categories, [list(v) for v in series], strict=True))
    return Chart(key, title, summary, bars, labels, gridlines, columns, rows, legend)


def _day(day: date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def daily(key: str, title: str, days: list[date], values: list[int]) -> Chart:
    """A bar per day."""
    labels = [_day(d) for d in days]
    series = [[v] for v in values]
    return stacked_bars(key, title, labels, series, series_names=[title], series_classes=["bar"])


def ratings_by_day(days: list[date], distributions: list[list[int]]) -> Chart:
    """Ratings last changed each day, stacked by stars (1 at the bottom)."""
    return stacked_bars(
        "ratings-by-day",
        "Ratings per day, by stars",
        [_day(d) for d in days],
        distributions,
        series_names=STAR_LABELS,
        series_classes=STAR_CLASSES,
    )


def rating_distribution(distribution: list[int]) -> Chart:
    """All current ratings, a bar per star count."""
    chart = stacked_bars(
        "rating-distribution",
        "Current ratings by stars",
        STAR_LABELS,
        [[n] for n in distribution],
        series_names=["Ratings"],
        series_classes=["bar"],
        tick_every=1,
    )
    # A bar of 0 is not drawn: the drawn bars are the stars that have ratings.
    shown = [css for css, count in zip(STAR_CLASSES, distribution, strict=True) if count]
    for bar, css in zip(chart.bars, shown, strict=True):
        bar.css = css
    chart.summary = f"{sum(distribution)} ratings"
    chart.columns = ["Ratings"]
    return chart
