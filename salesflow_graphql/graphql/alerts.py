"""Alerts: the ``alerts`` query and subscription and ``runAnomalyCheck`` (API.md).

Resolvers are thin: validate arguments, call the alert service or the bus, map
to types. The ``alerts`` query changes by the second, so its answer is never
kept by the response cache.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from ..alerts import model
from ..alerts.service import MAX_RECENT
from ..errors import BadUserInput
from .permissions import IsAdmin, IsAuthenticated
from .products import Product

Severity = strawberry.enum(
    model.Severity,
    description=(
        "How urgent an alert is, LOW < MEDIUM < HIGH < CRITICAL: from how sure the detection is "
        "and how much revenue is at stake against the shop's usual day."
    ),
)
AlertKind = strawberry.enum(
    model.AlertKind,
    description=(
        "SALES_SPIKE or SALES_DROP (daily units or revenue far from the same-weekday baseline, "
        "incl. a normally selling product selling nothing), STOCKOUT (no stock although the "
        "product sold recently), STOCKOUT_RISK (days of cover below the lead time)."
    ),
)
#: The ``minSeverity`` argument of the alerts query, their count and the subscription.
MinSeverity = Annotated[
    Severity,  # type: ignore[valid-type]
    strawberry.argument(description="Only alerts of this severity or above."),
]
AlertLevel = strawberry.enum(
    model.SubjectLevel,
    name="AlertLevel",
    description="What an alert is about: the whole shop (TOTAL), a CATEGORY or a PRODUCT.",
)


@strawberry.type(
    description=(
        "A product as it was when an alert was raised. It has no `id` on purpose: a snapshot "
        "is not the catalogue product, and a client cache must not merge the two (the alert's "
        "`productId` and `product` give the product itself)."
    )
)
class AlertProductSnapshot:
    sku: str = strawberry.field(description="The product's sku then.")
    name: str = strawberry.field(description="The product's name then.")
    price: float = strawberry.field(description="The selling price then.")
    stock_quantity: int = strawberry.field(description="Units in stock then.")
    low_stock_threshold: int = strawberry.field(description="The low-stock threshold then.")


@strawberry.type(description="Something unusual in sales or stock, raised once and delivered live.")
class Alert:
    id: strawberry.ID = strawberry.field(
        description=(
            "Ordered id (like `1718000000000-0`): a later alert has a greater id, across "
            "replicas. Pass the last one seen as `after` to resume the subscription."
        )
    )
    kind: AlertKind = strawberry.field(description="What happened.")  # type: ignore[valid-type]
    severity: Severity = strawberry.field(description="How urgent.")  # type: ignore[valid-type]
    level: AlertLevel = strawberry.field(  # type: ignore[valid-type]
        description="Whether the subject is the shop, a category or a product."
    )
    subject: str = strawberry.field(description="The product's sku, the category, or TOTAL.")
    metric: str = strawberry.field(
        description=(
            "What was measured: `units` or `revenue` (sales alerts), `stockQuantity` (STOCKOUT), "
            "`daysOfCover` (STOCKOUT_RISK)."
        )
    )
    observed: float = strawberry.field(description="The value seen (that day, or now for stock).")
    expected: float = strawberry.field(
        description=(
            "The usual value: the same-weekday baseline (sales), the demand over the lead time "
            "(STOCKOUT), the lead time in days (STOCKOUT_RISK)."
        )
    )
    score: float = strawberry.field(
        description=(
            "Sales alerts: the robust z (distance from the baseline in robust sigmas, negative "
            "for drops). Stock alerts: the share of the lead time not covered (1 = out of stock)."
        )
    )
    date: date | None = strawberry.field(
        description="The business day the alert is about (today for stock alerts)."
    )
    detected_at: datetime = strawberry.field(description="When the alert was raised (UTC).")
    message: str = strawberry.field(description="What happened, in words for the dashboard.")
    revenue_at_stake: float = strawberry.field(
        description=(
            "Revenue above or below a usual day (sales alerts), or a day's sales (STOCKOUT) or "
            "the sales of the days not covered (STOCKOUT_RISK) at risk, rounded to cents."
        )
    )
    _product: strawberry.Private[model.ProductSnapshot | None]

    @strawberry.field(
        description="The id of the product a product alert is about; null for category and TOTAL."
    )
    def product_id(self) -> strawberry.ID | None:
        return strawberry.ID(str(self._product.id)) if self._product is not None else None

    @strawberry.field(
        description=(
            "The product a product alert is about, as the catalogue has it now (the same values "
            "as everywhere else for this id); null for category and TOTAL alerts and when the "
            "product has left the catalogue since. The values when the alert was raised are in "
            "`productSnapshot`."
        )
    )
    async def product(self, info: Info) -> Product | None:
        if self._product is None:
            return None
        dto = await info.context.loaders.products_by_id.load(self._product.id)
        return Product.of(dto) if dto is not None else None

    @strawberry.field(
        description=(
            "The product as the catalogue had it when the alert was raised (stock and price of "
            "that moment); null for category and TOTAL alerts."
        )
    )
    def product_snapshot(self) -> AlertProductSnapshot | None:
        snapshot = self._product
        if snapshot is None:
            return None
        return AlertProductSnapshot(
            sku=snapshot.sku,
            name=snapshot.name,
            price=round(snapshot.price, 2),
            stock_quantity=snapshot.stock_quantity,
            low_stock_threshold=snapshot.low_stock_threshold,
        )

    @classmethod
    def of(cls, alert: model.Alert) -> Alert:
        return cls(
            id=strawberry.ID(alert.id),
            kind=alert.kind,
            severity=alert.severity,
            level=alert.level,
            subject=alert.subject,
            metric=alert.metric,
            observed=alert.observed,
            expected=alert.expected,
            score=alert.score,
            date=alert.date,
            detected_at=alert.detected_at,
            message=alert.message,
            revenue_at_stake=alert.revenue_at_stake,
            _product=alert.product,
        )


@strawberry.type(description="What one anomaly check did.")
class AnomalyRun:
    checked_series: int = strawberry.field(
        description=(
            "Daily series examined: units and revenue of the shop, each category and each "
            "product above the volume gate, plus each product's stock."
        )
    )
    alerts: list[Alert] = strawberry.field(
        description="Alerts this check raised (new ones only), in id order."
    )
    notified: int = strawberry.field(
        description="How many of them went out in the e-mail digest (0 when none was sent)."
    )
    found: int = strawberry.field(
        description="Everything detection saw, including alerts raised by earlier checks."
    )
    suppressed: int = strawberry.field(
        description="Found but muted by the cooldown of their subject (not raised)."
    )
    started_at: datetime = strawberry.field(description="When the check started (UTC).")
    duration_seconds: float = strawberry.field(description="How long the check took.")

    @classmethod
    def of(cls, run: model.AnomalyRun) -> AnomalyRun:
        assert run.started_at is not None
        return cls(
            checked_series=run.checked_series,
            alerts=[Alert.of(a) for a in run.alerts],
            notified=run.notified,
            found=run.found,
            suppressed=run.suppressed,
            started_at=run.started_at,
            duration_seconds=round(run.duration_s, 3),
        )


def _after(after: strawberry.ID | None) -> str | None:
    if after is None or not str(after).strip():
        return None
    try:
        model.parse_alert_id(str(after))
    except ValueError as exc:
        raise BadUserInput(str(exc), field="after") from None
    return str(after).strip()


@strawberry.type
class AlertQuery:
    @strawberry.field(
        description="The most recent alerts, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def alerts(
        self,
        info: Info,
        limit: Annotated[
            int, strawberry.argument(description=f"How many, 1 to {MAX_RECENT}.")
        ] = 50,
        min_severity: MinSeverity = model.Severity.LOW,
    ) -> list[Alert]:
        info.context.state.shareable = False  # new alerts arrive any second
        if not 1 <= limit <= MAX_RECENT:
            raise BadUserInput(f"limit must be between 1 and {MAX_RECENT}", field="limit")
        found = await info.context.runtime.alerts.recent_alerts(limit, min_severity)
        return [Alert.of(a) for a in found]

    @strawberry.field(
        description=(
            "How many alerts are kept (the latest 10,000 by default) at or above a severity: "
            "the total a list of the most recent ones is part of."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def alert_count(
        self,
        info: Info,
        min_severity: MinSeverity = model.Severity.LOW,
    ) -> int:
        info.context.state.shareable = False  # new alerts arrive any second
        return await info.context.runtime.alerts.alert_count(min_severity)


@strawberry.type
class AlertMutation:
    @strawberry.mutation(
        description=(
            "Run an anomaly check now (ADMIN): sales of the scanned days and today, and stock. "
            "New alerts are published live and e-mailed as one digest."
        ),
        permission_classes=[IsAdmin],
    )
    async def run_anomaly_check(self, info: Info) -> AnomalyRun:
        run = await info.context.runtime.alerts.check_and_notify_anomalies(info.context.data)
        return AnomalyRun.of(run)


@strawberry.type
class AlertSubscription:
    @strawberry.subscription(
        description=(
            "Alerts as they are raised, on any replica. With `after`, the alerts after that id "
            "are replayed first (each once, in order), then live ones follow."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def alerts(
        self,
        info: Info,
        min_severity: MinSeverity = model.Severity.LOW,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The id of the last alert seen: missed alerts are replayed first."
            ),
        ] = None,
    ) -> AsyncGenerator[Alert, None]:
        # a bad `after` or Redis not answering raise GatewayErrors: coded like any other
        stream = info.context.runtime.alerts.bus.subscribe(_after(after))
        try:
            async for alert in stream:
                if alert.severity.at_least(min_severity):
                    # A socket lives for hours, its reading would remember the catalogue as it
                    # was at the first alert: each alert reads the product as it is now.
                    info.context.read_anew(info.context.principal.token)
                    yield Alert.of(alert)
        finally:
            await stream.aclose()
