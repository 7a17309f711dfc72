"""Helpers for the report tests: reading PDFs and workbooks, a forecast stand-in, shop edits."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from openpyxl import load_workbook
from openpyxl.workbook import Workbook
from pypdf import PdfReader

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.forecast.core import ForecastPoint, ForecastResult, SeriesPoint


def pdf_pages(content: bytes) -> list[str]:
    """The text of each page, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(content))
    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in reader.pages]


def workbook(content: bytes) -> Workbook:
    return load_workbook(io.BytesIO(content))


class StubForecasts:
    """Answers like ``SalesForecastService.generate_forecast`` without training anything."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.requests: list[Any] = []

    async def generate_forecast(
        self, data: Any, request: Any, *, handed_off: asyncio.Event | None = None
    ) -> Any:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        if handed_off is not None:
            handed_off.set()
        today = data.today()
        history = tuple(
            SeriesPoint(today - timedelta(days=d), 20_000.0 + 50 * d) for d in range(60, 0, -1)
        )
        points = tuple(
            ForecastPoint(today + timedelta(days=d), 21_000.0, 17_500.0, 24_500.0)
            for d in range(request.horizon_days)
        )
        return SimpleNamespace(
            result=ForecastResult(model="stub-model", history=history, points=points, backtest=None)
        )


async def add_product_with_a_sale(standin: Any, secret: str, name: str, sku: str) -> None:
    """Put a product in the stand-in's shop and sell it today (as Java would)."""
    admin = mint_access_token(secret, Role.ADMIN)
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://java/api/v1") as java:
        headers = {"Authorization": f"Bearer {admin}"}
        created = await java.post(
            "/products",
            json={
                "name": name,
                "sku": sku,
                "price": 999.99,
                "stockQuantity": 3,
                "lowStockThreshold": 5,
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        sold = await java.post(
            "/sales", json={"items": [{"sku": sku, "quantity": 2}]}, headers=headers
        )
        assert sold.status_code == 201, sold.text
