"""The PDF's vector charts (reportlab.graphics): revenue trend, top products, category mix, forecast.

Each function takes plain figures and a width, and returns a ``Drawing`` that
platypus flows like any other element. Axes carry dates and compact currency;
labels are truncated or left out rather than allowed to overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.doughnut import Doughnut
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.utils import FillPairedData
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors

from . import formatting as fmt
from .palette import (
    ACCENT,
    BAND,
    CATEGORY_COLOURS,
    GRID,
    INK,
    MUTED,
    PRIMARY,
    PRIMARY_FILL,
)

FONT = "Helvetica"
AXIS_FONT_SIZE = 7.5
#: Longer trends are drawn per week: 365 daily points are noise at this size.
WEEKLY_ABOVE_DAYS = 92


# ------------------------------------------------------------------ dates
def _date_ticks(first: date, last: date, most: int = 8) -> list[date]:
    """Readable tick dates between ``first`` and ``last``: days, weeks, month or quarter starts."""
    span = (last - first).days
    for step in (1, 2, 7, 14):
        if span // step + 1 <= most:
            start = first if step < 7 else first + timedelta(days=(7 - first.weekday()) % 7)
            return [start + timedelta(days=i) for i in range(0, (last - start).days + 1, step)]
    for months in (1, 2, 3, 6, 12):
        ticks = []
        year, month = first.year, first.month
        while True:
            tick = date(year, month, 1)
            if tick > last:
                break
            if tick >= first:
                ticks.append(tick)
            month += months
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        if len(ticks) <= most:
            return ticks
    return [first, last]


def _date_label(span_days: int) -> object:
    def label(value: float) -> str:
        day = date.fromordinal(round(value))
        if span_days > 200:
            return f"{day:%b %Y}"
        return f"{day.day} {day:%b}"

    return label


def _style_axes(plot: LinePlot, currency: str, ticks: list[date], span_days: int) -> None:
    x, y = plot.xValueAxis, plot.yValueAxis
    x.valueSteps = [t.toordinal() for t in ticks]
    x.labelTextFormat = _date_label(span_days)
    x.labels.fontName = FONT
    x.labels.fontSize = AXIS_FONT_SIZE
    x.labels.fillColor = MUTED
    x.labels.dy = -3
    x.strokeColor = GRID
    x.tickDown = 3
    x.avoidBoundFrac = 0
    y.valueMin = 0
    y.maximumTicks = 6
    y.rangeRound = "ceiling"
    y.labelTextFormat = lambda v: fmt.money_compact(v, currency)
    y.labels.fontName = FONT
    y.labels.fontSize = AXIS_FONT_SIZE
    y.labels.fillColor = MUTED
    y.labels.dx = -3
    y.strokeColor = None
    y.visibleGrid = True
    y.gridStrokeColor = GRID
    y.gridStrokeWidth = 0.5
    y.tickLeft = 0


# ------------------------------------------------------------------ trend
def revenue_trend(
    points: Sequence[tuple[date, float]], currency: str, width: float, height: float = 170
) -> Drawing:
    """Revenue per day as a line over a light area; above 92 days, each week's daily average."""
    points = list(points)
    if len(points) > WEEKLY_ABOVE_DAYS:
        points = _weekly(points)
    drawing = Drawing(width, height)
    if not points:
        return drawing
    plot = LinePlot()
    plot.x, plot.y = 40, 22
    plot.width, plot.height = width - 44, height - 30
    plot.data = [[(d.toordinal(), v) for d, v in points]]
    plot.joinedLines = 1
    plot.lines[0].strokeColor = PRIMARY
    plot.lines[0].strokeWidth = 1.6
    plot.lines[0].inFill = 2  # fill to the axis and draw the line on top
    plot.lines[0].fillColor = PRIMARY_FILL
    first, last = points[0][0], points[-1][0]
    if first == last:
        plot.data = [
            [(first.toordinal() - 0.5, points[0][1]), (last.toordinal() + 0.5, points[0][1])]
        ]
    plot.xValueAxis.valueMin = plot.data[0][0][0]
    plot.xValueAxis.valueMax = plot.data[0][-1][0]
    _style_axes(plot, currency, _date_ticks(first, last), (last - first).days)
    drawing.add(plot)
    return drawing


def _weekly(points: list[tuple[date, float]]) -> list[tuple[date, float]]:
    """Average per day of each week (Monday start): partial first and last weeks stay comparable."""
    weeks: dict[date, list[float]] = {}
    for day, value in points:
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(value)
    return [(monday, sum(values) / len(values)) for monday, values in sorted(weeks.items())]


# ------------------------------------------------------------------ bars
def top_products(
    rows: Sequence[tuple[str, float]], currency: str, width: float, bar_height: float = 15
) -> Drawing:
    """Horizontal bars of revenue, best product on top, value at the end of each bar."""
    rows = list(rows)
    label_width = min(190.0, width * 0.38)
    height = max(40.0, len(rows) * bar_height + 26)
    drawing = Drawing(width, height)
    if not rows:
        return drawing
    chart = HorizontalBarChart()
    chart.x, chart.y = label_width, 16
    chart.width = width - label_width - 62
    chart.height = height - 22
    ordered = list(reversed(rows))  # reportlab draws the first category at the bottom
    chart.data = [[v for _, v in ordered]]
    chart.categoryAxis.categoryNames = [_fit(name, label_width - 10, 7.5) for name, _ in ordered]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7.5
    chart.categoryAxis.labels.fillColor = INK
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -4
    chart.categoryAxis.strokeColor = GRID
    chart.categoryAxis.tickLeft = 0
    chart.bars[0].fillColor = PRIMARY
    chart.bars[0].strokeColor = None
    chart.barWidth = 10
    chart.groupSpacing = 4
    chart.valueAxis.valueMin = 0
    chart.valueAxis.maximumTicks = 5
    chart.valueAxis.labelTextFormat = lambda v: fmt.money_compact(v, currency)
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = AXIS_FONT_SIZE
    chart.valueAxis.labels.fillColor = MUTED
    chart.valueAxis.strokeColor = None
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = GRID
    chart.valueAxis.gridStrokeWidth = 0.5
    chart.barLabelFormat = lambda v: fmt.money(v, currency)
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 7
    chart.barLabels.fillColor = INK
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    return drawing


# ------------------------------------------------------------------ mix
def category_mix(
    shares: Sequence[tuple[str, float]], size: float, colours: Sequence[colors.Color]
) -> Drawing:
    """A doughnut of revenue shares; the legend is a table beside it (no labels to collide)."""
    drawing = Drawing(size, size)
    values = [max(v, 0.0) for _, v in shares]
    if not values or sum(values) <= 0:
        return drawing
    chart = Doughnut()
    chart.x, chart.y = 6, 6
    chart.width = chart.height = size - 12
    chart.data = values
    chart.innerRadiusFraction = 0.58
    chart.slices.strokeColor = colors.white
    chart.slices.strokeWidth = 1
    for i, colour in enumerate(colours[: len(values)]):
        chart.slices[i].fillColor = colour
    chart.labels = None
    drawing.add(chart)
    return drawing


def category_colours(n: int) -> list[colors.Color]:
    return [CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i in range(n)]


# ------------------------------------------------------------------ forecast
def forecast_band(
    history: Sequence[tuple[date, float]],
    points: Sequence[tuple[date, float, float, float]],
    currency: str,
    interval_level: float,
    width: float,
    height: float = 170,
) -> Drawing:
    """Recent actuals, then the forecast line inside its shaded interval band."""
    drawing = Drawing(width, height)
    if not points:
        return drawing
    plot = LinePlot()
    plot.x, plot.y = 40, 22
    plot.width, plot.height = width - 44, height - 40
    upper = [(d.toordinal(), hi) for d, _, _, hi in points]
    lower = [(d.toordinal(), lo) for d, _, lo, _ in points]
    # The forecast line starts at the last actual, so the two lines join.
    joint = [(history[-1][0].toordinal(), history[-1][1])] if history else []
    forecast = joint + [(d.toordinal(), v) for d, v, _, _ in points]
    actual = [(d.toordinal(), v) for d, v in history] or forecast[:1]
    plot.data = [FillPairedData(upper, 1), lower, actual, forecast]
    plot.joinedLines = 1
    band = plot.lines[0]
    band.strokeColor = None
    band.fillColor = BAND
    plot.lines[1].strokeColor = None
    plot.lines[2].strokeColor = PRIMARY
    plot.lines[2].strokeWidth = 1.6
    plot.lines[3].strokeColor = ACCENT
    plot.lines[3].strokeWidth = 1.8
    plot.lines[3].strokeDashArray = (4, 2)
    first = history[0][0] if history else points[0][0]
    last = points[-1][0]
    plot.xValueAxis.valueMin = first.toordinal()
    plot.xValueAxis.valueMax = last.toordinal()
    _style_axes(plot, currency, _date_ticks(first, last), (last - first).days)
    drawing.add(plot)
    # "today" divider between actuals and forecast
    if history:
        x = plot.x + plot.width * (
            (points[0][0].toordinal() - 0.5 - first.toordinal())
            / max(1, last.toordinal() - first.toordinal())
        )
        drawing.add(
            Line(
                x,
                plot.y,
                x,
                plot.y + plot.height,
                strokeColor=MUTED,
                strokeWidth=0.5,
                strokeDashArray=(1, 2),
            )
        )
    _legend(
        drawing,
        plot.x,
        height - 9,
        [
            ("line", PRIMARY, "Actual revenue per day"),
            ("dash", ACCENT, "Forecast"),
            ("box", BAND, f"{interval_level:.0%} interval"),
        ],
    )
    return drawing


def _legend(
    drawing: Drawing, x: float, y: float, entries: list[tuple[str, colors.Color, str]]
) -> None:
    for kind, colour, text in entries:
        if kind == "box":
            drawing.add(Rect(x, y - 1, 14, 7, fillColor=colour, strokeColor=None))
        else:
            drawing.add(
                Line(
                    x,
                    y + 2.5,
                    x + 14,
                    y + 2.5,
                    strokeColor=colour,
                    strokeWidth=1.8,
                    strokeDashArray=(4, 2) if kind == "dash" else None,
                )
            )
        drawing.add(String(x + 18, y, text, fontName=FONT, fontSize=7.5, fillColor=INK))
        from reportlab.pdfbase.pdfmetrics import stringWidth

        x += 18 + stringWidth(text, FONT, 7.5) + 16


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` points."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, FONT, size) <= width:
        return text
    while text and stringWidth(text + "...", FONT, size) > width:
        text = text[:-1]
    return text.rstrip() + "..."
