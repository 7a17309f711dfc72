"""A reading (what services read through): one generation, each resource and window fetched once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn


def _history_calls(standin: StandIn) -> list[str]:
    return [r.query for r in standin.requests if r.path == "/sales/history"]


async def test_windows_asked_in_one_turn_are_one_fetch_of_the_widest(
    runtime: Runtime, standin: StandIn, user_token: str
) -> None:
    reading = runtime.source.reading(user_token)
    today = reading.today()
    # The narrower first: only fetching the two together makes this one call.
    short, wide = await asyncio.gather(
        reading.sales_since(today - timedelta(days=30)),
        reading.sales_since(today - timedelta(days=60)),
    )
    assert _history_calls(standin) == ["days=60"]
    assert (short.start, wide.start) == (today - timedelta(days=30), today - timedelta(days=60))
    assert short.items["sale_date"].min() >= wide.items["sale_date"].min()
    assert len(short.items) < len(wide.items)
    narrower = await reading.sales_since(today - timedelta(days=10))
    assert _history_calls(standin) == ["days=60"], "a narrower window is cut from the wider"
    assert narrower.start == today - timedelta(days=10)
    assert reading.oldest_data_at == wide.fetched_at


async def test_a_reading_keeps_its_generation_after_a_write(
    runtime: Runtime, user_token: str
) -> None:
    reading = runtime.source.reading(user_token)
    await runtime.source.invalidate()  # what a committed import does
    assert runtime.source.generation() != reading.generation
    assert reading.fork().generation == reading.generation
    assert runtime.source.reading(user_token).generation == runtime.source.generation()
