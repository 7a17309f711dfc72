"""An in-process stand-in for the SalesFlow Java API (SOR_CONTRACT.md), with a seeded demo shop.

Usage::

    shop = build_demo_shop(seed=20240601, today=date(2025, 6, 15))
    standin = StandIn(shop, secret="...", products_bulk=False)
    transport = httpx.ASGITransport(app=standin.app)  # base URL http://standin/api/v1

``standin.faults`` injects latency and failures, ``standin.requests`` logs what
arrived; ``/__standin/...`` exposes both over HTTP for a stand-in in another process.
"""

from .app import RequestRecord, StandIn, create_standin_from_settings
from .faults import Faults
from .shop import DemoShop, PlantedAnomaly, build_demo_shop

__all__ = [
    "DemoShop",
    "Faults",
    "PlantedAnomaly",
    "RequestRecord",
    "StandIn",
    "build_demo_shop",
    "create_standin_from_settings",
]
