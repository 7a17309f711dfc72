"""Identity that normalized client caches can trust (Apollo, urql Graphcache, Relay).

Such caches keep one record per ``__typename`` + ``id`` and merge every answer
into it. So every object with an ``id`` must carry the same values wherever it
appears: in any root field, for any arguments. Types with an ``id`` are listed
from the schema, so a new one cannot slip past this file.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from graphql import GraphQLObjectType, get_named_type
from support import graphql, wait_until

from salesflow_graphql.adapters import signing
from salesflow_graphql.app import create_app
from salesflow_graphql.graphql.schema import create_schema

if TYPE_CHECKING:
    from salesflow_graphql.standin import DemoShop, StandIn

PRODUCT = "id sku name price stockQuantity lowStockThreshold description imageUrl discontinued category cost"
RUN_CHECK = "mutation { runAnomalyCheck { alerts { id } } }"


def _ranges(renamed_on: date) -> list[dict[str, str]]:
    """Recent ranges, and ranges before and after a product was renamed."""
    today = date.today()
    spans = [
        (today - timedelta(days=29), today),
        (today - timedelta(days=59), today - timedelta(days=30)),
        (renamed_on - timedelta(days=14), renamed_on - timedelta(days=1)),
        (renamed_on + timedelta(days=1), renamed_on + timedelta(days=14)),
    ]
    return [{"start": start.isoformat(), "end": end.isoformat()} for start, end in spans]


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def test_the_types_with_an_id_are_the_reviewed_ones() -> None:
    schema = create_schema()._schema
    with_id = {
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLObjectType)
        and not name.startswith("__")
        and "id" in type_.fields
    }
    # Product: catalogue values everywhere (tested below). Alert: immutable once raised,
    # its product resolved from the catalogue. ReportJob: one job's current state.
    assert with_id == {"Product", "Alert", "ReportJob"}
    # The alert's snapshot of its product must not pose as the product.
    snapshot = schema.type_map["AlertProductSnapshot"]
    assert isinstance(snapshot, GraphQLObjectType) and "id" not in snapshot.fields
    alert = schema.type_map["Alert"]
    assert isinstance(alert, GraphQLObjectType)
    assert get_named_type(alert.fields["product"].type).name == "Product"


async def test_a_product_id_carries_the_same_values_in_every_answer(
    gateway: httpx.AsyncClient,
    standin: StandIn,
    user_token: str,
    admin_token: str,
    demo_shop: DemoShop,
) -> None:
    # A product renamed, then deleted from the catalogue: its sales before and after the
    # rename carry different names, yet every answer must describe it the same way.
    # The best seller of the renamed products: it ranks in every range's top 100.
    sold = np.bincount(demo_shop.sales.item_product_id)
    rename = max(demo_shop.renames, key=lambda r: sold[r.product_id])
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://java/api/v1") as java:
        deleted = await java.delete(
            f"/products/by-sku/{rename.sku}", headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert deleted.status_code == 204
    _data(await graphql(gateway, RUN_CHECK, admin_token))
    seen: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)

    def note(where: str, product: dict[str, Any] | None) -> None:
        if product is not None:
            seen[product["id"]].append((where, product))

    for range_ in _ranges(rename.date):
        answer = await graphql(
            gateway,
            f"query($r: DateRangeInput) {{ salesAnalytics(range: $r, top: 100) {{"
            f" topProducts {{ product {{ {PRODUCT} }} }} }} }}",
            user_token,
            {"r": range_},
        )
        for line in _data(answer)["salesAnalytics"]["topProducts"]:
            note(f"salesAnalytics {range_}", line["product"])
    for lookback in (7, 30, 90):
        answer = await graphql(
            gateway,
            f"{{ stockAnalytics(lookbackDays: {lookback}) {{ items {{ product {{ {PRODUCT} }} }} }} }}",
            user_token,
        )
        for item in _data(answer)["stockAnalytics"]["items"]:
            note(f"stockAnalytics {lookback}", item["product"])
    alerts = _data(
        await graphql(
            gateway,
            f"{{ alerts(limit: 100) {{ id productId product {{ {PRODUCT} }} productSnapshot {{ sku name }} }} }}",
            user_token,
        )
    )["alerts"]
    for alert in alerts:
        note(f"alert {alert['id']}", alert["product"])

    gone = seen[str(rename.product_id)]
    assert len(gone) >= 4 and gone[0][1]["discontinued"], gone
    assert gone[0][1]["name"] == rename.new_name
    assert any(a["product"] for a in alerts), "the demo shop raises product alerts"
    for pid, found in seen.items():
        first_where, first = found[0]
        for where, product in found[1:]:
            assert product == first, f"product {pid}: {first_where} {first} != {where} {product}"
    # The catalogue's own answer agrees too (description and image included).
    for pid in list(seen)[:5]:
        sku = seen[pid][0][1]["sku"]
        own = _data(
            await graphql(gateway, f'{{ product(sku: "{sku}") {{ {PRODUCT} }} }}', user_token)
        )
        if own["product"] is not None and own["product"]["id"] == pid:
            assert own["product"] == seen[pid][0][1]


async def test_an_alert_names_its_product_by_id_and_keeps_the_old_values_apart(
    gateway: httpx.AsyncClient, user_token: str, admin_token: str
) -> None:
    _data(await graphql(gateway, RUN_CHECK, admin_token))
    alerts = _data(
        await graphql(
            gateway,
            "{ alerts(limit: 200) { level subject productId product { id sku description }"
            " productSnapshot { sku name price stockQuantity lowStockThreshold } } }",
            user_token,
        )
    )["alerts"]
    product_alerts = [a for a in alerts if a["level"] == "PRODUCT"]
    assert product_alerts and len(product_alerts) < len(alerts)
    for alert in alerts:
        if alert["level"] != "PRODUCT":
            assert alert["productId"] is alert["product"] is alert["productSnapshot"] is None
            continue
        assert alert["productSnapshot"]["sku"] == alert["subject"]
        assert alert["product"]["id"] == alert["productId"]
    # The catalogue product, not a snapshot with its description blanked.
    assert any(a["product"]["description"] for a in product_alerts)


GENERATE = "mutation { generateReport(input: { kind: SALES, format: PDF }) { id } }"
REPORT = "query($id: ID!) { report(id: $id) { id status finishedAt downloadUrl } }"


async def test_a_report_job_s_download_url_is_the_same_on_every_read(
    started: Callable[..., Any],
    user_token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client polling ``report(id)`` merges each answer into the job's record: its link must
    not change from one read to the next (it did: signed anew, with a new expiry, each time).
    It stays valid while the report is kept, not just an hour."""
    async with started(exports_dir=str(tmp_path)) as runtime:
        runtime.reports.forecasts = None  # no forecast training in the report
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as gateway:
            job_id = _data(await graphql(gateway, GENERATE, user_token))["generateReport"]["id"]
            reads: list[dict[str, Any]] = []

            async def completed() -> bool:
                answer = await graphql(gateway, REPORT, user_token, {"id": job_id})
                reads.append(_data(answer)["report"])
                return reads[-1]["status"] in ("COMPLETED", "FAILED")

            await wait_until(completed, timeout=30, what="the report")
            first = reads[-1]
            assert first["status"] == "COMPLETED" and first["downloadUrl"], first
            kept_s = runtime.settings.reports.retention_days * 86400
            finished = datetime.fromisoformat(first["finishedAt"]).timestamp()
            for later in (1.0, runtime.settings.auth.link_ttl_s + 60.0):  # a second, an hour on
                _clock_at(monkeypatch, time.time() + later)
                again = _data(await graphql(gateway, REPORT, user_token, {"id": job_id}))
                assert again["report"] == first
                download = await gateway.get(first["downloadUrl"])  # no bearer token
                assert download.status_code == 200 and download.content.startswith(b"%PDF-")
            _clock_at(monkeypatch, finished + kept_s + 1)  # the report is no longer kept
            expired = await gateway.get(first["downloadUrl"])
            assert expired.status_code == 403 and "expired" in expired.text


def _clock_at(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    """The link signer's clock (only its own) reads ``now``."""
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: now))
