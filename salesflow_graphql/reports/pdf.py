"""The PDF report (ReportLab platypus): A4 portrait, one flowing story, "Page x of y" footers.

Sections, in order, each only when the report's kind has it:

- title block: report name, range, the range it is compared with, generation time;
- sales: KPI tiles with the change vs the previous range, revenue trend, category
  mix, top products (bars and table), the 14-day forecast (FULL only, when the
  forecast capability answered);
- stock: KPI tiles and the reorder table (most urgent first).

Pure: figures in, bytes out. Runs in a worker thread (see ``service``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ..analytics.sales import SalesAnalytics
from ..analytics.stock import StockLine, StockStatus
from . import charts
from . import formatting as fmt
from .model import ReportContent, StockSection
from .palette import (
    ACCENT,
    GRID,
    INK,
    MUTED,
    NEGATIVE,
    PANEL,
    POSITIVE,
    PRIMARY,
    STATUS_HEX,
    WARNING,
)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 16 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
TOP_MARGIN = 14 * mm
BOTTOM_MARGIN = 18 * mm
TILE_GAP = 8
TOP_PRODUCTS_SHOWN = 10
CATEGORIES_SHOWN = 8
REORDER_ROWS_SHOWN = 40
URGENT = (StockStatus.OUT_OF_STOCK, StockStatus.LOW_STOCK, StockStatus.REORDER)

_BASE = ParagraphStyle("base", fontName="Helvetica", fontSize=9, leading=12, textColor=INK)
STYLES = {
    "brand": ParagraphStyle(
        "brand",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=8,
        textColor=colors.HexColor("#9CC3E6"),
    ),
    "title": ParagraphStyle(
        "title",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=22,
        leading=27,
        textColor=colors.white,
    ),
    "subtitle": ParagraphStyle(
        "subtitle", parent=_BASE, fontSize=10, leading=14, textColor=colors.HexColor("#DCE7F3")
    ),
    "generated": ParagraphStyle(
        "generated",
        parent=_BASE,
        fontSize=8,
        leading=11,
        alignment=TA_RIGHT,
        textColor=colors.HexColor("#DCE7F3"),
    ),
    "h1": ParagraphStyle(
        "h1",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=13,
        leading=16,
        spaceBefore=4,
        textColor=PRIMARY,
    ),
    "h2": ParagraphStyle(
        "h2", parent=_BASE, fontName="Helvetica-Bold", fontSize=10.5, leading=13, textColor=INK
    ),
    "caption": ParagraphStyle("caption", parent=_BASE, fontSize=8, leading=10, textColor=MUTED),
    "tile_label": ParagraphStyle(
        "tile_label",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=7,
        leading=9,
        textColor=MUTED,
    ),
    "tile_note": ParagraphStyle(
        "tile_note", parent=_BASE, fontSize=7.5, leading=10, textColor=MUTED
    ),
    "cell": ParagraphStyle("cell", parent=_BASE, fontSize=8, leading=10),
    "cell_small": ParagraphStyle(
        "cell_small", parent=_BASE, fontSize=7, leading=9, textColor=MUTED
    ),
    "cell_head": ParagraphStyle(
        "cell_head",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=7.5,
        leading=9,
        textColor=colors.white,
    ),
    "cell_head_right": ParagraphStyle(
        "cell_head_right",
        parent=_BASE,
        fontName="Helvetica-Bold",
        fontSize=7.5,
        leading=9,
        textColor=colors.white,
        alignment=TA_RIGHT,
    ),
    "cell_right": ParagraphStyle(
        "cell_right", parent=_BASE, fontSize=8, leading=10, alignment=TA_RIGHT
    ),
    "note": ParagraphStyle(
        "note",
        parent=_BASE,
        fontName="Helvetica-Oblique",
        fontSize=8,
        leading=10,
        textColor=MUTED,
        alignment=TA_LEFT,
    ),
}


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    buffer = io.BytesIO()
    footer = (
        f"SalesFlow  ·  {content.kind.heading}  ·  "
        f"{fmt.day_range(content.range.start, content.range.end)}"
    )
    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=TOP_MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=f"SalesFlow {content.kind.heading}",
        author="SalesFlow",
        subject=f"{content.kind.heading}, {content.range.start} to {content.range.end}",
        creator="SalesFlow GraphQL gateway",
    )
    # No frame padding: headings, tables and charts share one left edge.
    frame = Frame(
        MARGIN,
        BOTTOM_MARGIN,
        CONTENT_WIDTH,
        PAGE_HEIGHT - TOP_MARGIN - BOTTOM_MARGIN,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    document.addPageTemplates([PageTemplate(id="report", frames=[frame])])
    story: list[Flowable] = [_title_block(content), Spacer(1, 14)]
    if content.sales is not None:
        story += _sales_sections(content, content.sales)
    if content.stock is not None:
        story += _stock_sections(content, content.stock)
    for note in content.notes:
        story += [Spacer(1, 6), Paragraph(escape(note), STYLES["note"])]
    document.build(story, canvasmaker=_numbered_canvas(footer))
    return buffer.getvalue()


# ------------------------------------------------------------------ title
def _title_block(content: ReportContent) -> Flowable:
    period = content.range
    days = f"{period.days} day" + ("s" if period.days != 1 else "")
    subtitle = f"{fmt.day_range(period.start, period.end)}  ·  {days}"
    if content.sales is not None:
        previous = content.sales.previous_range
        subtitle += f"<br/>Compared with {fmt.day_range(previous.start, previous.end)}"
    left = [
        Paragraph("SALESFLOW", STYLES["brand"]),
        Spacer(1, 4),
        Paragraph(escape(content.kind.heading), STYLES["title"]),
        Spacer(1, 2),
        Paragraph(subtitle, STYLES["subtitle"]),
    ]
    right = [
        Paragraph(f"Generated<br/>{escape(fmt.moment(content.generated_at))}", STYLES["generated"])
    ]
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH * 0.72, CONTENT_WIDTH * 0.28])
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), PRIMARY),
                ("VALIGN", (0, 0), (0, 0), "TOP"),
                ("VALIGN", (1, 0), (1, 0), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 16),
                ("RIGHTPADDING", (0, 0), (-1, -1), 16),
                ("TOPPADDING", (0, 0), (-1, -1), 14),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 14),
                ("LINEBELOW", (0, 0), (-1, -1), 3, ACCENT),
            ]
        )
    )
    return table


# ------------------------------------------------------------------ sales
def _sales_sections(content: ReportContent, sales: SalesAnalytics) -> list[Flowable]:
    currency = content.currency
    kpis, previous = sales.kpis, content.previous_kpis
    story: list[Flowable] = _heading(
        "Sales overview",
        "Figures for the range; changes against the previous range of the same length.",
    )
    story.append(
        _tiles(
            [
                _tile("Revenue", fmt.money(kpis.revenue, currency), _delta(kpis.revenue_change)),
                _tile(
                    "Orders",
                    fmt.count(kpis.orders),
                    _delta(_change(kpis.orders, previous.orders if previous else None)),
                ),
                _tile(
                    "Average order value",
                    fmt.money(kpis.average_order_value, currency),
                    _delta(
                        _change(
                            kpis.average_order_value,
                            previous.average_order_value if previous else None,
                        )
                    ),
                ),
                _tile(
                    "Units sold",
                    fmt.count(kpis.units_sold),
                    _delta(_change(kpis.units_sold, previous.units_sold if previous else None)),
                ),
            ]
        )
    )
    story.append(Spacer(1, 4))
    story.append(
        Paragraph(
            escape(
                f"Previous range revenue {fmt.money(kpis.previous_revenue, currency)}  ·  "
                f"{fmt.count(kpis.distinct_products)} products sold  ·  "
                f"{kpis.items_per_order:.2f} units per order"
            ),
            STYLES["caption"],
        )
    )
    story.append(Spacer(1, 12))
    trend = [(p.period, p.revenue) for p in sales.trend]
    if len(trend) < 2 or not any(revenue for _, revenue in trend):
        # A line needs two days and something to show; say so instead of an empty frame.
        chart: Flowable = Paragraph(
            "No sales in this range." if kpis.revenue == 0 else "A trend needs at least two days.",
            STYLES["caption"],
        )
    else:
        chart = charts.revenue_trend(trend, currency, CONTENT_WIDTH)
    story.append(KeepTogether([*_heading("Revenue trend", _trend_caption(sales)), chart]))
    story.append(Spacer(1, 10))
    story.append(
        KeepTogether(
            [
                *_heading("Category mix", "Share of revenue by inventory category."),
                _category_mix(sales, currency),
            ]
        )
    )
    story.append(Spacer(1, 10))
    story += _top_products(sales, currency)
    if content.forecast is not None:
        band = content.forecast
        expected = sum(v for _, v, _, _ in band.points)
        story.append(Spacer(1, 10))
        story.append(
            KeepTogether(
                [
                    *_heading(
                        f"{len(band.points)}-day revenue forecast",
                        f"Total revenue per day; model {band.model}. Expected over the next "
                        f"{len(band.points)} days: {fmt.money(expected, currency)}.",
                    ),
                    charts.forecast_band(
                        band.history, band.points, currency, band.interval_level, CONTENT_WIDTH
                    ),
                ]
            )
        )
    return story


def _trend_caption(sales: SalesAnalytics) -> str:
    weekly = len(sales.trend) > charts.WEEKLY_ABOVE_DAYS
    text = "Average revenue per day, week by week." if weekly else "Revenue per day."
    peak = max(sales.trend, key=lambda p: p.revenue, default=None)
    if peak is not None and peak.revenue > 0:
        text += f" Best day: {fmt.day(peak.period)}."
    return text


def _category_mix(sales: SalesAnalytics, currency: str) -> Flowable:
    categories = list(sales.categories)
    shown = categories[:CATEGORIES_SHOWN]
    rest = categories[CATEGORIES_SHOWN:]
    rows = [(c.category, c.revenue, c.share_of_revenue) for c in shown]
    if rest:
        rows.append(
            (
                f"Other ({len(rest)})",
                sum(c.revenue for c in rest),
                sum(c.share_of_revenue for c in rest),
            )
        )
    if not rows:
        return Paragraph("No sales in this range.", STYLES["caption"])
    colours = charts.category_colours(len(rows))
    doughnut = charts.category_mix([(name, revenue) for name, revenue, _ in rows], 150, colours)
    legend_rows: list[list[Any]] = [
        [
            "",
            Paragraph("<b>Category</b>", STYLES["cell_small"]),
            Paragraph("<b>Revenue</b>", _right(STYLES["cell_small"])),
            Paragraph("<b>Share</b>", _right(STYLES["cell_small"])),
        ]
    ]
    for name, revenue, share in rows:
        legend_rows.append(
            [
                "",
                Paragraph(escape(name), STYLES["cell"]),
                Paragraph(fmt.money(revenue, currency), STYLES["cell_right"]),
                Paragraph(fmt.share(share), STYLES["cell_right"]),
            ]
        )
    legend = Table(legend_rows, colWidths=[12, 150, 90, 50])
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, GRID),
    ]
    for i, colour in enumerate(colours, start=1):
        style.append(("BACKGROUND", (0, i), (0, i), colour))
        style.append(("LINEAFTER", (0, i), (0, i), 4, colors.white))
    legend.setStyle(TableStyle(style))
    layout = Table([[doughnut, legend]], colWidths=[170, CONTENT_WIDTH - 170])
    layout.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return layout


def _top_products(sales: SalesAnalytics, currency: str) -> list[Flowable]:
    top = list(sales.top_products[:TOP_PRODUCTS_SHOWN])
    heading = _heading(
        "Top products", f"The {len(top)} best-selling products by revenue." if top else ""
    )
    if not top:
        return [*heading, Paragraph("No sales in this range.", STYLES["caption"])]
    bars = charts.top_products([(p.name, p.revenue) for p in top], currency, CONTENT_WIDTH)
    header = [
        Paragraph("#", STYLES["cell_head"]),
        Paragraph("Product", STYLES["cell_head"]),
        Paragraph("SKU", STYLES["cell_head"]),
        Paragraph("Units", STYLES["cell_head_right"]),
        Paragraph("Orders", STYLES["cell_head_right"]),
        Paragraph("Revenue", STYLES["cell_head_right"]),
        Paragraph("Share", STYLES["cell_head_right"]),
    ]
    rows: list[list[Any]] = [header]
    for rank, product in enumerate(top, start=1):
        rows.append(
            [
                Paragraph(str(rank), STYLES["cell"]),
                Paragraph(escape(product.name), STYLES["cell"]),
                Paragraph(escape(product.sku), STYLES["cell_small"]),
                Paragraph(fmt.count(product.units_sold), STYLES["cell_right"]),
                Paragraph(fmt.count(product.orders), STYLES["cell_right"]),
                Paragraph(fmt.money(product.revenue, currency), STYLES["cell_right"]),
                Paragraph(fmt.share(product.share_of_revenue), STYLES["cell_right"]),
            ]
        )
    widths = [20, 215, 70, 45, 45, 75, 45]
    table = _data_table(rows, _scaled(widths))
    return [KeepTogether([*heading, bars, Spacer(1, 6)]), table]


# ------------------------------------------------------------------ stock
def _stock_sections(content: ReportContent, section: StockSection) -> list[Flowable]:
    currency = content.currency
    kpis = section.analytics.kpis
    story: list[Flowable] = [CondPageBreak(260)]
    story += _heading(
        "Stock position",
        f"As of {fmt.moment(section.as_of)}; demand from the last {section.lookback_days} days, "
        f"lead time {section.lead_time_days} days.",
    )
    cost_note = (
        f"at cost {fmt.money(kpis.stock_cost, currency)}"
        if kpis.stock_cost is not None
        else "cost unknown"
    )
    reorder = sum(1 for i in section.analytics.items if i.status is StockStatus.REORDER)
    story.append(
        _tiles(
            [
                _tile(
                    "Products",
                    fmt.count(kpis.product_count),
                    f"{fmt.count(kpis.total_units)} units in stock",
                ),
                _tile("Stock value", fmt.money(kpis.stock_value, currency), cost_note),
                _tile(
                    "Average days of cover",
                    fmt.days_of_cover(kpis.average_days_of_cover),
                    "over products that sold",
                ),
                _tile(
                    "Reorder needed",
                    fmt.count(kpis.reorder_needed),
                    "low stock or short cover",
                    accent=ACCENT,
                ),
            ]
        )
    )
    story.append(Spacer(1, TILE_GAP))
    story.append(
        _tiles(
            [
                _tile(
                    "Out of stock",
                    fmt.count(kpis.out_of_stock),
                    "products at zero",
                    accent=NEGATIVE,
                ),
                _tile(
                    "Low stock", fmt.count(kpis.low_stock), "at or under threshold", accent=WARNING
                ),
                _tile(
                    "Cover below lead time",
                    fmt.count(reorder),
                    f"sells out within {section.lead_time_days} days",
                    accent=PRIMARY,
                ),
                _tile(
                    "Dead stock",
                    fmt.count(kpis.dead_stock),
                    "no sale in the window",
                    accent=MUTED,
                ),
            ]
        )
    )
    story.append(Spacer(1, 14))
    story += _reorder_table(section.analytics.items)
    return story


def _reorder_table(items: Sequence[StockLine]) -> list[Flowable]:
    urgent = [i for i in items if i.status in URGENT]
    shown = urgent[:REORDER_ROWS_SHOWN]
    caption = "Out-of-stock, low-stock and reorder products, most urgent first."
    if len(urgent) > len(shown):
        caption += f" The {len(shown)} most urgent of {len(urgent)}; the XLSX report lists all."
    heading = _heading("Reorder list", caption)
    if not shown:
        return [*heading, Paragraph("Nothing needs reordering.", STYLES["caption"])]
    rows: list[list[Any]] = [
        [
            Paragraph("SKU", STYLES["cell_head"]),
            Paragraph("Product", STYLES["cell_head"]),
            Paragraph("Status", STYLES["cell_head"]),
            Paragraph("Stock", STYLES["cell_head_right"]),
            Paragraph("Sold / day", STYLES["cell_head_right"]),
            Paragraph("Days of cover", STYLES["cell_head_right"]),
            Paragraph("Reorder qty", STYLES["cell_head_right"]),
        ]
    ]
    status_styles: list[tuple[Any, ...]] = []
    for row, item in enumerate(shown, start=1):
        ink, tint = STATUS_HEX[item.status.value]
        rows.append(
            [
                Paragraph(escape(item.sku), STYLES["cell_small"]),
                Paragraph(escape(item.name), STYLES["cell"]),
                Paragraph(
                    f'<font color="#{ink}"><b>{item.status.value.replace("_", " ")}</b></font>',
                    STYLES["cell_small"],
                ),
                Paragraph(fmt.count(item.stock_quantity), STYLES["cell_right"]),
                Paragraph(f"{item.average_daily_sales:,.2f}", STYLES["cell_right"]),
                Paragraph(fmt.days_of_cover(item.days_of_cover), STYLES["cell_right"]),
                Paragraph(
                    f"<b>{fmt.count(item.suggested_reorder_quantity)}</b>", STYLES["cell_right"]
                ),
            ]
        )
        status_styles.append(("BACKGROUND", (2, row), (2, row), colors.HexColor("#" + tint)))
    table = _data_table(rows, _scaled([62, 190, 70, 40, 50, 55, 55]), extra=status_styles)
    return [KeepTogether([*heading, table])] if len(rows) < 12 else [*heading, table]


# ------------------------------------------------------------------ pieces
def _heading(title: str, caption: str) -> list[Flowable]:
    parts: list[Flowable] = [Paragraph(escape(title), STYLES["h1"])]
    if caption:
        parts.append(Paragraph(escape(caption), STYLES["caption"]))
    parts.append(Spacer(1, 6))
    return parts


def _tile(label: str, value: str, note: str, *, accent: colors.Color = PRIMARY) -> dict[str, Any]:
    return {"label": label, "value": value, "note": note, "accent": accent}


def _tiles(tiles: list[dict[str, Any]]) -> Flowable:
    """A row of KPI tiles of equal width: label, big value, a note (or a coloured change)."""
    n = len(tiles)
    width = (CONTENT_WIDTH - TILE_GAP * (n - 1)) / n
    inner = width - 20
    cells: list[Any] = []
    widths: list[float] = []
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 8),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 9),
        ("LEFTPADDING", (0, 0), (-1, -1), 10),
        ("RIGHTPADDING", (0, 0), (-1, -1), 8),
    ]
    for i, tile in enumerate(tiles):
        column = 2 * i
        if i:
            cells.append("")
            widths.append(TILE_GAP)
        value_size = min(16.0, inner / max(1.0, stringWidth(tile["value"], "Helvetica-Bold", 1)))
        value_style = ParagraphStyle(
            "tile_value",
            parent=_BASE,
            fontName="Helvetica-Bold",
            fontSize=value_size,
            leading=value_size + 4,
            textColor=INK,
        )
        note = tile["note"]
        cells.append(
            [
                Paragraph(escape(tile["label"].upper()), STYLES["tile_label"]),
                Spacer(1, 3),
                Paragraph(escape(tile["value"]), value_style),
                Spacer(1, 1),
                note
                if isinstance(note, Paragraph)
                else Paragraph(escape(note), STYLES["tile_note"]),
            ]
        )
        widths.append(width)
        style.append(("BACKGROUND", (column, 0), (column, 0), PANEL))
        style.append(("LINEBEFORE", (column, 0), (column, 0), 3, tile["accent"]))
    table = Table([cells], colWidths=widths)
    table.setStyle(TableStyle(style))
    return table


def _change(current: float, previous: float | None) -> float | None:
    return None if previous is None else fmt.ratio_change(current, previous)


def _delta(change: float | None) -> Paragraph:
    if change is None:
        return Paragraph("no previous figures to compare", STYLES["tile_note"])
    colour = POSITIVE if change > 0 else NEGATIVE if change < 0 else MUTED
    return Paragraph(
        f'<font color="#{colour.hexval()[2:]}"><b>{fmt.change(change)}</b></font>'
        " vs previous range",
        STYLES["tile_note"],
    )


def _data_table(
    rows: list[list[Any]], widths: list[float], extra: Sequence[tuple[Any, ...]] = ()
) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), PRIMARY),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F8FAFC")]),
                ("LINEBELOW", (0, 1), (-1, -1), 0.4, GRID),
                ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 5),
                *extra,
            ]
        )
    )
    return table


def _scaled(widths: list[float]) -> list[float]:
    total = sum(widths)
    return [w * CONTENT_WIDTH / total for w in widths]


def _right(style: ParagraphStyle) -> ParagraphStyle:
    return ParagraphStyle(style.name + "_right", parent=style, alignment=TA_RIGHT)


def _numbered_canvas(footer: str) -> type[Canvas]:
    """A canvas that draws the footer with "Page x of y" once the page count is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            page = self.getPageNumber()
            self.saveState()
            self.setStrokeColor(GRID)
            self.setLineWidth(0.6)
            self.line(MARGIN, 12 * mm, PAGE_WIDTH - MARGIN, 12 * mm)
            self.setFont("Helvetica", 7.5)
            self.setFillColor(MUTED)
            self.drawString(MARGIN, 8 * mm, footer)
            self.drawRightString(PAGE_WIDTH - MARGIN, 8 * mm, f"Page {page} of {total}")
            self.restoreState()

    return NumberedCanvas
