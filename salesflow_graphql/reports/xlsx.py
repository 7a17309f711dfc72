"""The XLSX report (openpyxl): one sheet per section, ready to filter, sort and chart.

Sheets by kind: Summary (always); Trend (native line chart), Top products
(bar chart), Categories (bar chart) for SALES and FULL; Stock (status column
with conditional formatting) and Reorder for STOCK and FULL; Forecast (line
chart) for FULL when the forecast answered.

Every data sheet has a frozen header row, an autofilter, number formats
(currency, percent, counts, dates) and column widths fitted to the content.

Strings are always written as text cells, never as formulas: a product named
``=HYPERLINK("http://evil.example")`` is stored as a string, and a string
starting with ``=``, ``+``, ``-``, ``@``, tab or CR also gets Excel's quote
prefix (what Excel stores when a user types a leading apostrophe), so editing
the cell keeps it text. The text itself is unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.axis import DateAxis
from openpyxl.formatting.rule import CellIsRule, DataBarRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..analytics.stock import StockStatus
from . import formatting as fmt
from .model import ReportContent
from .palette import CATEGORY_HEX, STATUS_HEX

#: Leading characters that make a spreadsheet treat text as a formula or command.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PERCENT = "0.0%"
COUNT = "#,##0"
DECIMAL = "#,##0.00"
DATE = "yyyy-mm-dd"
URGENT = (StockStatus.OUT_OF_STOCK, StockStatus.LOW_STOCK, StockStatus.REORDER)

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_TITLE_FONT = Font(bold=True, size=16, color="1F4E79")
_MUTED_FONT = Font(color="667085")
_BOLD = Font(bold=True)


def render_xlsx(content: ReportContent) -> bytes:
    """The report as XLSX bytes."""
    currency = _currency_format(content.currency)
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Summary"
    _summary(summary, content, currency)
    if content.sales is not None:
        _trend(workbook.create_sheet("Trend"), content, currency)
        _top_products(workbook.create_sheet("Top products"), content, currency)
        _categories(workbook.create_sheet("Categories"), content, currency)
    if content.stock is not None:
        _stock(workbook.create_sheet("Stock"), content, currency)
        _reorder(workbook.create_sheet("Reorder"), content, currency)
    if content.forecast is not None:
        _forecast(workbook.create_sheet("Forecast"), content, currency)
    workbook.properties.title = f"SalesFlow {content.kind.heading}"
    workbook.properties.creator = "SalesFlow"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------ cells
def write(
    sheet: Worksheet, row: int, column: int, value: Any, number_format: str | None = None
) -> Cell:
    """Write one value: strings always as text (never a formula), numbers with their format."""
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    else:
        cell.value = value
        if number_format is not None:
            cell.number_format = number_format
    return cell


def _table(
    sheet: Worksheet,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: Sequence[str | None],
    *,
    first_row: int = 1,
) -> None:
    """Header, rows, frozen header, autofilter and fitted widths."""
    for column, title in enumerate(header, start=1):
        cell = write(sheet, first_row, column, title)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center")
    for r, values in enumerate(rows, start=first_row + 1):
        for column, (value, number_format) in enumerate(zip(values, formats, strict=True), start=1):
            write(sheet, r, column, value, number_format)
    last_row = first_row + max(len(rows), 1)
    sheet.freeze_panes = sheet.cell(row=first_row + 1, column=1)
    sheet.auto_filter.ref = f"A{first_row}:{get_column_letter(len(header))}{last_row}"
    _fit_widths(sheet, header, rows, formats)


def _fit_widths(
    sheet: Worksheet,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: Sequence[str | None],
) -> None:
    for column, title in enumerate(header, start=1):
        longest = len(title) + 3  # room for the filter button
        for values in rows[:500]:
            longest = max(longest, _display_length(values[column - 1], formats[column - 1]))
        sheet.column_dimensions[get_column_letter(column)].width = min(60, max(9, longest + 2))


def _display_length(value: Any, number_format: str | None) -> int:
    if value is None:
        return 1
    if isinstance(value, str):
        return len(value)
    if isinstance(value, date):
        return 10
    if number_format == PERCENT:
        return 7
    if isinstance(value, float):
        return len(f"{value:,.2f}") + 2
    return len(f"{value:,}")


def _currency_format(symbol: str) -> str:
    quoted = symbol.replace('"', "")
    return f'"{quoted}"#,##0.00'


# ------------------------------------------------------------------ sheets
def _summary(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    write(sheet, 1, 1, f"SalesFlow {content.kind.heading}").font = _TITLE_FONT
    write(sheet, 2, 1, "Range")
    write(sheet, 2, 2, f"{content.range.start.isoformat()} to {content.range.end.isoformat()}")
    write(sheet, 3, 1, "Days")
    write(sheet, 3, 2, content.range.days, COUNT)
    write(sheet, 4, 1, "Generated")
    write(sheet, 4, 2, fmt.moment(content.generated_at))
    for row in range(2, 5):
        sheet.cell(row=row, column=1).font = _MUTED_FONT
    rows: list[list[Any]] = []
    formats_by_row: list[str] = []
    sales, previous = content.sales, content.previous_kpis
    if sales is not None:
        k = sales.kpis

        def line(name: str, value: float, before: float | None, number_format: str) -> None:
            change = None if before is None else fmt.ratio_change(value, before)
            rows.append([name, value, before, change])
            formats_by_row.append(number_format)

        line("Revenue", k.revenue, k.previous_revenue, currency)
        rows[-1][3] = k.revenue_change  # the API's own figure
        line("Orders", k.orders, previous.orders if previous else None, COUNT)
        line("Units sold", k.units_sold, previous.units_sold if previous else None, COUNT)
        line(
            "Average order value",
            k.average_order_value,
            previous.average_order_value if previous else None,
            currency,
        )
        line(
            "Units per order",
            k.items_per_order,
            previous.items_per_order if previous else None,
            DECIMAL,
        )
        line(
            "Products sold",
            k.distinct_products,
            previous.distinct_products if previous else None,
            COUNT,
        )
    if content.stock is not None:
        s = content.stock.analytics.kpis
        for name, value, number_format in (
            ("Products in catalogue", s.product_count, COUNT),
            ("Units in stock", s.total_units, COUNT),
            ("Stock value (price)", s.stock_value, currency),
            ("Stock value (cost)", s.stock_cost, currency),
            ("Out of stock", s.out_of_stock, COUNT),
            ("Low stock", s.low_stock, COUNT),
            ("Reorder needed", s.reorder_needed, COUNT),
            ("Dead stock", s.dead_stock, COUNT),
            ("Average days of cover", s.average_days_of_cover, DECIMAL),
        ):
            rows.append([name, value, None, None])
            formats_by_row.append(number_format)
    header = ["Figure", "This range", "Previous range", "Change"]
    first = 6
    for column, title in enumerate(header, start=1):
        cell = write(sheet, first, column, title)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
    for r, (values, number_format) in enumerate(zip(rows, formats_by_row, strict=True), first + 1):
        write(sheet, r, 1, values[0]).font = _BOLD
        write(sheet, r, 2, values[1], number_format)
        write(sheet, r, 3, values[2], number_format)
        write(sheet, r, 4, values[3], PERCENT)
    sheet.freeze_panes = sheet.cell(row=first + 1, column=1)
    for column, width in zip("ABCD", (26, 24, 18, 12), strict=True):
        sheet.column_dimensions[column].width = width
    if content.stock is not None:
        note_row = first + len(rows) + 2
        write(
            sheet,
            note_row,
            1,
            f"Stock as of {fmt.moment(content.stock.as_of)}; demand from the last "
            f"{content.stock.lookback_days} days; lead time {content.stock.lead_time_days} days.",
        ).font = _MUTED_FONT
    for offset, note in enumerate(content.notes):
        write(sheet, first + len(rows) + 3 + offset, 1, note).font = _MUTED_FONT


def _trend(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    assert content.sales is not None
    points = content.sales.trend
    rows = [[p.period, p.revenue, p.orders, p.units_sold] for p in points]
    _table(sheet, ["Date", "Revenue", "Orders", "Units sold"], rows, [DATE, currency, COUNT, COUNT])
    if not rows:
        return
    chart = LineChart()
    chart.title = "Revenue per day"
    chart.style = 2
    chart.height, chart.width = 9, 22
    chart.legend = None
    chart.y_axis.title = "Revenue"
    chart.y_axis.numFmt = currency.replace(".00", "")
    chart.x_axis = DateAxis(crossAx=100)
    chart.x_axis.number_format = "d mmm"
    chart.x_axis.majorTimeUnit = "days"
    chart.add_data(
        Reference(sheet, min_col=2, min_row=1, max_row=len(rows) + 1), titles_from_data=True
    )
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1))
    chart.series[0].graphicalProperties.line.solidFill = "1F4E79"
    chart.series[0].graphicalProperties.line.width = 20000
    chart.series[0].smooth = False
    _show_axes(chart)
    sheet.add_chart(chart, "F2")


def _top_products(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    assert content.sales is not None
    top = content.sales.top_products
    rows = [
        [rank, p.sku, p.name, p.units_sold, p.orders, p.revenue, p.share_of_revenue]
        for rank, p in enumerate(top, start=1)
    ]
    _table(
        sheet,
        ["Rank", "SKU", "Product", "Units sold", "Orders", "Revenue", "Share of revenue"],
        rows,
        [COUNT, None, None, COUNT, COUNT, currency, PERCENT],
    )
    if rows:
        shown = min(10, len(rows))
        chart = _bar_chart(
            "Top products by revenue",
            Reference(sheet, min_col=6, min_row=1, max_row=shown + 1),
            Reference(sheet, min_col=3, min_row=2, max_row=shown + 1),
            currency,
        )
        sheet.add_chart(chart, "I2")


def _categories(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    assert content.sales is not None
    categories = content.sales.categories
    rows = [[c.category, c.revenue, c.units_sold, c.share_of_revenue] for c in categories]
    _table(
        sheet,
        ["Category", "Revenue", "Units sold", "Share of revenue"],
        rows,
        [None, currency, COUNT, PERCENT],
    )
    if rows:
        chart = _bar_chart(
            "Revenue by category",
            Reference(sheet, min_col=2, min_row=1, max_row=len(rows) + 1),
            Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1),
            currency,
        )
        chart.varyColors = True
        sheet.add_chart(chart, "F2")


def _stock_rows(items: Sequence[Any]) -> list[list[Any]]:
    return [
        [
            i.sku,
            i.name,
            i.status.value,
            i.stock_quantity,
            i.stock_value,
            i.average_daily_sales,
            i.days_of_cover,
            i.suggested_reorder_quantity,
            i.last_sale_date,
        ]
        for i in items
    ]


_STOCK_HEADER = [
    "SKU",
    "Product",
    "Status",
    "Stock",
    "Stock value",
    "Average daily sales",
    "Days of cover",
    "Suggested reorder",
    "Last sale",
]


def _stock_formats(currency: str) -> list[str | None]:
    return [None, None, None, COUNT, currency, DECIMAL, DECIMAL, COUNT, DATE]


def _stock(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    assert content.stock is not None
    rows = _stock_rows(content.stock.analytics.items)
    _table(sheet, _STOCK_HEADER, rows, _stock_formats(currency))
    _status_colours(sheet, len(rows))
    if rows:
        last = len(rows) + 1
        sheet.conditional_formatting.add(
            f"G2:G{last}",
            DataBarRule(
                start_type="num", start_value=0, end_type="percentile", end_value=95, color="9CC3E6"
            ),
        )


def _reorder(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    assert content.stock is not None
    urgent = [i for i in content.stock.analytics.items if i.status in URGENT]
    rows = _stock_rows(urgent)
    _table(sheet, _STOCK_HEADER, rows, _stock_formats(currency))
    _status_colours(sheet, len(rows))
    for r in range(2, len(rows) + 2):
        sheet.cell(row=r, column=8).font = _BOLD


def _status_colours(sheet: Worksheet, count: int) -> None:
    """Colour the Status column (C) by value, as conditional formats (they survive sorting)."""
    if not count:
        return
    cells = f"C2:C{count + 1}"
    for status, (ink, tint) in STATUS_HEX.items():
        sheet.conditional_formatting.add(
            cells,
            CellIsRule(
                operator="equal",
                formula=[f'"{status}"'],
                font=Font(bold=True, color=ink),
                fill=PatternFill("solid", fgColor=tint, bgColor=tint),
            ),
        )


def _forecast(sheet: Worksheet, content: ReportContent, currency: str) -> None:
    band = content.forecast
    assert band is not None
    rows: list[list[Any]] = [[d, v, None, None, None] for d, v in band.history]
    rows += [[d, None, v, lo, hi] for d, v, lo, hi in band.points]
    level = f"{band.interval_level:.0%}"
    _table(
        sheet,
        ["Date", "Actual", "Forecast", f"Lower ({level})", f"Upper ({level})"],
        rows,
        [DATE, currency, currency, currency, currency],
    )
    chart = LineChart()
    chart.title = f"{len(band.points)}-day revenue forecast ({band.model})"
    chart.height, chart.width = 9, 22
    chart.y_axis.numFmt = currency.replace(".00", "")
    chart.x_axis = DateAxis(crossAx=100)
    chart.x_axis.number_format = "d mmm"
    chart.x_axis.majorTimeUnit = "days"
    chart.add_data(
        Reference(sheet, min_col=2, max_col=5, min_row=1, max_row=len(rows) + 1),
        titles_from_data=True,
    )
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1))
    for series, colour, dash in zip(
        chart.series,
        ("1F4E79", "2A9D8F", "9CC3E6", "9CC3E6"),
        (None, "dash", "sysDot", "sysDot"),
        strict=True,
    ):
        series.graphicalProperties.line.solidFill = colour
        if dash:
            series.graphicalProperties.line.dashStyle = dash
        series.smooth = False
    _show_axes(chart)
    sheet.add_chart(chart, "G2")


# ------------------------------------------------------------------ charts
def _bar_chart(title: str, data: Reference, categories: Reference, currency: str) -> BarChart:
    chart = BarChart()
    chart.type = "bar"  # horizontal: long product names stay readable
    chart.title = title
    chart.height, chart.width = 9, 18
    chart.legend = None
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(categories)
    chart.x_axis.scaling.orientation = "maxMin"  # first row on top
    chart.y_axis.numFmt = currency.replace(".00", "")
    chart.series[0].graphicalProperties.solidFill = CATEGORY_HEX[0]
    _show_axes(chart)
    return chart


def _show_axes(chart: Any) -> None:
    # openpyxl >= 3.1 marks axes deleted unless told otherwise; Excel then hides them.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
