"""Helpers of the alert tests: a graphql-transport-ws client, demo-shop frames, synthetic alerts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import websockets
from frames_support import catalogue_frame, inventory_frame
from support import shared_redis_url

from salesflow_graphql.alerts.model import Alert, AlertKind, Severity, SubjectLevel
from salesflow_graphql.sor.frames import ITEM_SCHEMA, typed_frame
from salesflow_graphql.standin import DemoShop

ALERT_FIELDS = "id kind severity level subject metric observed expected score date detectedAt message product { sku name }"


class GraphQLWebSocket:
    """A small graphql-transport-ws client: answers server pings, collects ``next`` payloads."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.pings = 0
        self.text_frames = True

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, token: str) -> AsyncIterator[GraphQLWebSocket]:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:
            client = cls(socket)
            await socket.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            ack = await client._receive(timeout=10)
            assert ack["type"] == "connection_ack", ack
            yield client

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.socket.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )

    async def _receive(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - a deadline
        deadline = time.monotonic() + timeout
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), max(0.0, deadline - time.monotonic()))
            if isinstance(raw, bytes):
                self.text_frames = False
            message = json.loads(raw)
            if message["type"] == "ping":
                self.pings += 1
                await self.socket.send(json.dumps({"type": "pong"}))
                continue
            return message

    async def message(self, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The next protocol message other than a ping."""
        return await self._receive(timeout)

    async def alerts(self, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """The next ``count`` alerts of any subscription, failing after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(found)} of {count} alerts in {timeout}s")
            message = await self._receive(remaining)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            found.append(message["payload"]["data"]["alerts"])
        return found

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Messages (other than pings) that arrive within ``seconds``: expected to be none."""
        extra = []
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            while (remaining := deadline - time.monotonic()) > 0:
                extra.append(await self._receive(remaining))
        return extra


def subscription(min_severity: str = "LOW", after: str | None = None) -> tuple[str, dict[str, Any]]:
    query = (
        "subscription Alerts($min: Severity!, $after: ID) { alerts(minSeverity: $min, after: $after) { "
        + ALERT_FIELDS
        + " } }"
    )
    return query, {"min": min_severity, "after": after}


def synthetic_alert(
    subject: str, *, severity: Severity = Severity.HIGH, day: date | None = None
) -> Alert:
    """An alert as detection would make it (for bus and subscription tests)."""
    return Alert(
        kind=AlertKind.SALES_SPIKE,
        severity=severity,
        level=SubjectLevel.PRODUCT,
        subject=subject,
        metric="units",
        observed=40.0,
        expected=10.0,
        score=9.5,
        date=day or date(2026, 1, 5),
        detected_at=datetime.now(UTC),
        message=f"Sales of {subject} spiked.",
        revenue_at_stake=300.0,
    )


def demo_frames(
    shop: DemoShop, since: date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The demo shop's sale lines (from ``since``), catalogue and inventory as the gateway's
    frames, without HTTP (the lines columnar: hundreds of thousands of them)."""
    sales = shop.sales
    first = 0 if since is None else int(np.searchsorted(sales.sale_time, np.datetime64(since)))
    # Sales are in time order and own consecutive lines: the window is a tail of both.
    lines = slice(int(sales.item_start[first]) if first < sales.n_sales else sales.n_items, None)
    sale = np.repeat(np.arange(sales.n_sales), sales.item_count)[lines]
    sold_at = sales.sale_time[sale]
    quantity = sales.item_quantity[lines]
    unit_cents = sales.item_unit_cents[lines]
    items = typed_frame(
        {
            "sale_id": sales.sale_id[sale],
            "sold_at": sold_at,
            "sale_date": sold_at.astype("datetime64[D]"),
            "product_id": sales.item_product_id[lines],
            "sku": np.array(sales.skus, dtype=object)[sales.item_sku[lines]],
            "product_name": np.array(sales.names, dtype=object)[sales.item_name[lines]],
            "quantity": quantity,
            "unit_price": unit_cents / 100,
            "subtotal": quantity * unit_cents / 100,
        },
        ITEM_SCHEMA,
    )
    catalogue = catalogue_frame(
        [
            {
                "product_id": p.id,
                "sku": p.sku,
                "name": p.name,
                "price": p.price_cents / 100,
                "stock_quantity": p.stock_quantity,
                "low_stock_threshold": p.low_stock_threshold,
            }
            for p in shop.products
        ]
    )
    inventory = inventory_frame(
        [{"sku": r.sku, "category": r.category, "cost": r.cost_cents / 100} for r in shop.inventory]
    )
    return items, catalogue, inventory


#: The Redis database of the alert tests (flushed by them, and only this one).
ALERTS_REDIS_URL = shared_redis_url(13)


async def flush_alerts_db() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(ALERTS_REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
