"""Sales and stock analytics: types and thin resolvers (API.md, "Queries")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from ..analytics import periods, sales, stock
from .permissions import IsAuthenticated
from .products import Product, product_by_id

Granularity = strawberry.enum(
    periods.Granularity,
    description="Trend bucket size: DAY, WEEK (buckets start on Monday) or MONTH (on the 1st).",
)
StockStatus = strawberry.enum(
    stock.StockStatus,
    description=(
        "Stock situation, first match wins: OUT_OF_STOCK (stock 0), LOW_STOCK (stock <= "
        "threshold), REORDER (days of cover < lead time), DEAD_STOCK (stock but no sale in "
        "the lookback window), OK."
    ),
)


@strawberry.input(description="An inclusive range of calendar dates.")
class DateRangeInput:
    start: date = strawberry.field(description="First day, included.")
    end: date = strawberry.field(description="Last day, included.")


@strawberry.type(description="An inclusive range of calendar dates.")
class DateRange:
    start: date = strawberry.field(description="First day, included.")
    end: date = strawberry.field(description="Last day, included.")
    days: int = strawberry.field(description="Number of days, both ends included.")

    @classmethod
    def of(cls, value: periods.DateRange) -> DateRange:
        return cls(start=value.start, end=value.end, days=value.days)


@strawberry.type(description="Headline sales figures of a range.")
class SalesKpis:
    revenue: float = strawberry.field(description="Sum of item subtotals of sales in the range.")
    orders: int = strawberry.field(description="Number of sales in the range.")
    units_sold: int = strawberry.field(description="Sum of item quantities.")
    average_order_value: float = strawberry.field(
        description="revenue / orders (0 when no orders)."
    )
    items_per_order: float = strawberry.field(description="unitsSold / orders (0 when no orders).")
    distinct_products: int = strawberry.field(description="Number of distinct products sold.")
    previous_revenue: float = strawberry.field(description="Revenue of the previous range.")
    revenue_change: float | None = strawberry.field(
        description="revenue / previousRevenue - 1 as a fraction; null when previousRevenue is 0."
    )

    @classmethod
    def of(cls, k: sales.SalesKpis) -> SalesKpis:
        return cls(
            revenue=k.revenue,
            orders=k.orders,
            units_sold=k.units_sold,
            average_order_value=k.average_order_value,
            items_per_order=k.items_per_order,
            distinct_products=k.distinct_products,
            previous_revenue=k.previous_revenue,
            revenue_change=k.revenue_change,
        )


@strawberry.type(
    description=(
        "One trend bucket. WEEK and MONTH buckets follow the calendar, so the first and last "
        "may be cut by the range: `complete` is false for those, and `start`..`end` are the "
        "days counted."
    )
)
class SalesPoint:
    period: date = strawberry.field(
        description=(
            "Calendar start of the bucket (the day; the Monday for WEEK; the 1st for MONTH). "
            "For a partial first bucket it precedes the range: label a chart with `start`."
        )
    )
    revenue: float = strawberry.field(description="Revenue in the bucket (days inside the range).")
    orders: int = strawberry.field(description="Sales in the bucket.")
    units_sold: int = strawberry.field(description="Units sold in the bucket.")
    start: date = strawberry.field(
        description="First day of the bucket inside the range (never before the range starts)."
    )
    end: date = strawberry.field(
        description="Last day of the bucket inside the range (never after the range ends)."
    )
    days: int = strawberry.field(description="Days counted in the bucket: start..end, inclusive.")
    complete: bool = strawberry.field(
        description=(
            "True when the range holds the whole calendar bucket (always for DAY); false for a "
            "first or last WEEK/MONTH bucket cut by the range, whose figures cover fewer days."
        )
    )

    @classmethod
    def of(cls, point: sales.SalesPoint) -> SalesPoint:
        return cls(
            period=point.period,
            revenue=point.revenue,
            orders=point.orders,
            units_sold=point.units_sold,
            start=point.start,
            end=point.end,
            days=point.days,
            complete=point.complete,
        )


@strawberry.type(description="A product's sales in the range.")
class ProductSales:
    revenue: float = strawberry.field(description="Revenue of the product in the range.")
    units_sold: int = strawberry.field(description="Units of the product sold in the range.")
    orders: int = strawberry.field(description="Number of sales containing the product.")
    share_of_revenue: float = strawberry.field(description="Fraction of the range's revenue.")
    _line: strawberry.Private[sales.ProductSales]

    @strawberry.field(description="The product (current catalogue values).")
    async def product(self, info: Info) -> Product:
        line = self._line
        return await product_by_id(info, line.product_id, line.sku, line.name, line.last_unit_price)

    @classmethod
    def of(cls, line: sales.ProductSales) -> ProductSales:
        return cls(
            revenue=line.revenue,
            units_sold=line.units_sold,
            orders=line.orders,
            share_of_revenue=line.share_of_revenue,
            _line=line,
        )


@strawberry.type(description="A category's sales in the range.")
class CategorySales:
    category: str = strawberry.field(
        description='Inventory category; "Uncategorized" for products without one.'
    )
    revenue: float = strawberry.field(description="Revenue of the category in the range.")
    units_sold: int = strawberry.field(description="Units of the category sold in the range.")
    share_of_revenue: float = strawberry.field(description="Fraction of the range's revenue.")


@strawberry.type(description="Sales KPIs, trend and rankings for a date range.")
class SalesAnalytics:
    range: DateRange = strawberry.field(description="The range analysed.")
    previous_range: DateRange = strawberry.field(
        description="The same number of days just before `range`."
    )
    kpis: SalesKpis = strawberry.field(description="Headline figures.")
    previous_kpis: SalesKpis = strawberry.field(
        description=(
            "Headline figures of `previousRange`, for the change of every KPI (their own "
            "previousRevenue and revenueChange compare with the range before that)."
        )
    )
    trend: list[SalesPoint] = strawberry.field(
        description="Every bucket of the range, zero-filled, ascending."
    )
    top_products: list[ProductSales] = strawberry.field(
        description="Best products by revenue (then sku), at most `top`."
    )
    categories: list[CategorySales] = strawberry.field(
        description="Categories by revenue (then name)."
    )

    @classmethod
    def of(cls, result: sales.SalesAnalytics) -> SalesAnalytics:
        return cls(
            range=DateRange.of(result.range),
            previous_range=DateRange.of(result.previous_range),
            kpis=SalesKpis.of(result.kpis),
            previous_kpis=SalesKpis.of(result.previous_kpis),
            trend=[SalesPoint.of(p) for p in result.trend],
            top_products=[ProductSales.of(line) for line in result.top_products],
            categories=[
                CategorySales(
                    category=c.category,
                    revenue=c.revenue,
                    units_sold=c.units_sold,
                    share_of_revenue=c.share_of_revenue,
                )
                for c in result.categories
            ],
        )


@strawberry.type(description="Stock headline figures.")
class StockKpis:
    product_count: int = strawberry.field(description="Products in the catalogue.")
    total_units: int = strawberry.field(description="Units in stock over all products.")
    stock_value: float = strawberry.field(description="Sum of stock × current price.")
    stock_cost: float | None = strawberry.field(
        description="Sum of stock × cost over products with a known cost; null when none is known."
    )
    out_of_stock: int = strawberry.field(description="Products with status OUT_OF_STOCK.")
    low_stock: int = strawberry.field(description="Products with status LOW_STOCK.")
    reorder_needed: int = strawberry.field(description="Products with status LOW_STOCK or REORDER.")
    dead_stock: int = strawberry.field(description="Products with status DEAD_STOCK.")
    average_days_of_cover: float | None = strawberry.field(
        description="Mean daysOfCover over items where it is not null."
    )


@strawberry.type(description="A product's stock position.")
class StockItem:
    stock_quantity: int = strawberry.field(description="Units in stock now.")
    stock_value: float = strawberry.field(description="stock × current price.")
    average_daily_sales: float = strawberry.field(
        description="Units sold in the lookback window / lookbackDays."
    )
    days_of_cover: float | None = strawberry.field(
        description="stock / averageDailySales; null when nothing sold in the lookback window."
    )
    status: StockStatus = strawberry.field(description="Stock status (first match wins).")
    suggested_reorder_quantity: int = strawberry.field(
        description=(
            "max(0, ceil(averageDailySales × (leadTimeDays + 14) + lowStockThreshold − stock)) "
            "for OUT_OF_STOCK, LOW_STOCK and REORDER; else 0."
        )
    )
    last_sale_date: date | None = strawberry.field(
        description="Latest sale day in the lookback window; null when none."
    )
    _line: strawberry.Private[stock.StockLine]

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> Product:
        line = self._line
        return await product_by_id(info, line.product_id, line.sku, line.name, 0.0)

    @classmethod
    def of(cls, line: stock.StockLine) -> StockItem:
        return cls(
            stock_quantity=line.stock_quantity,
            stock_value=line.stock_value,
            average_daily_sales=line.average_daily_sales,
            days_of_cover=line.days_of_cover,
            status=line.status,
            suggested_reorder_quantity=line.suggested_reorder_quantity,
            last_sale_date=line.last_sale_date,
            _line=line,
        )


@strawberry.type(description="Stock KPIs and per-product positions.")
class StockAnalytics:
    as_of: datetime = strawberry.field(description="When these figures were computed.")
    kpis: StockKpis = strawberry.field(description="Headline figures.")
    _lines: strawberry.Private[list[stock.StockLine]]

    @strawberry.field(
        description="Per-product positions, most urgent first; optionally one status."
    )
    def items(
        self,
        status: Annotated[
            StockStatus | None, strawberry.argument(description="Only items with this status.")
        ] = None,
    ) -> list[StockItem]:
        return [
            StockItem.of(line) for line in self._lines if status is None or line.status == status
        ]

    @classmethod
    def of(cls, as_of: datetime, result: stock.StockAnalytics) -> StockAnalytics:
        k = result.kpis
        return cls(
            as_of=as_of,
            kpis=StockKpis(
                product_count=k.product_count,
                total_units=k.total_units,
                stock_value=k.stock_value,
                stock_cost=k.stock_cost,
                out_of_stock=k.out_of_stock,
                low_stock=k.low_stock,
                reorder_needed=k.reorder_needed,
                dead_stock=k.dead_stock,
                average_days_of_cover=k.average_days_of_cover,
            ),
            _lines=list(result.items),
        )


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(
        description="Sales KPIs, trend, top products and categories for a date range.",
        permission_classes=[IsAuthenticated],
    )
    async def sales_analytics(
        self,
        info: Info,
        range: Annotated[
            DateRangeInput | None,
            strawberry.argument(description="Inclusive range; default: the 30 days ending today."),
        ] = None,
        granularity: Annotated[
            Granularity, strawberry.argument(description="Trend bucket size.")
        ] = periods.Granularity.DAY,
        top: Annotated[int, strawberry.argument(description="How many top products.")] = 10,
    ) -> SalesAnalytics:
        ctx = info.context
        period = None
        if range is not None:
            period = periods.validated_range(
                range.start,
                range.end,
                max_days=ctx.runtime.settings.limits.max_range_days,
                comparisons=2,
            )
        result = await ctx.runtime.sales_analytics.compute_sales_analytics(
            ctx.data, period, granularity, top
        )
        return SalesAnalytics.of(result)

    @strawberry.field(
        description="Stock KPIs and per-product cover, status and reorder suggestions.",
        permission_classes=[IsAuthenticated],
    )
    async def stock_analytics(
        self,
        info: Info,
        lookback_days: Annotated[
            int, strawberry.argument(description="Days of sales that define average demand.")
        ] = 30,
        lead_time_days: Annotated[
            int, strawberry.argument(description="Supplier lead time in days.")
        ] = 7,
    ) -> StockAnalytics:
        ctx = info.context
        as_of, result = await ctx.runtime.stock_analytics.compute_stock_analytics(
            ctx.data, lookback_days, lead_time_days
        )
        return StockAnalytics.of(as_of, result)
