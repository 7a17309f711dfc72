"""One user can't starve the others of forecasts (issue 12 §7), on a real socket.

Mallory asks for many distinct forecasts over one WebSocket and walks away:
beyond her cap she is refused at once with RATE_LIMITED and retryAfter, and
when she closes the socket her trainings are cancelled, the one running in a
training process included. Victor's forecast then trains at once.
"""

from __future__ import annotations

import httpx
import process_table
import pytest
from alerts_support import GraphQLWebSocket
from support import error_codes, graphql, serving, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import DemoShop, StandIn

FORECAST = "query($i: ForecastInput!) { forecast(input: $i) { model points { value } } }"
ASKED = 6
CAP = 2


def _input(horizon: int) -> dict[str, int]:
    return {"horizonDays": horizon, "historyDays": 56}  # the shortest history: quick trainings


@pytest.mark.skipif(not process_table.available(), reason="needs Linux /proc")
async def test_an_abandoned_burst_is_capped_and_cancelled_and_another_user_is_answered(
    base_settings: Settings, demo_shop: DemoShop
) -> None:
    settings = base_settings.replace(forecast={"workers": 1, "max_per_user": CAP, "ttl_s": 0})
    runtime = await Runtime.start(
        settings, standin=StandIn(demo_shop, secret=settings.auth.jwt_secret)
    )
    forecasts = runtime.forecasts
    mallory = mint_access_token(
        settings.auth.jwt_secret, Role.USER, subject="+15550000666", username="mallory"
    )
    victor = mint_access_token(
        settings.auth.jwt_secret, Role.USER, subject="+15550000777", username="victor"
    )
    try:
        forecasts.warm_up()
        async with serving(create_app(runtime=runtime)) as url:
            await wait_until(lambda: forecasts.pool.pids, timeout=60, what="a training process")
            ws_url = url.replace("http://", "ws://") + "/graphql"
            async with (
                GraphQLWebSocket.connect(ws_url, mallory) as socket,
                httpx.AsyncClient(base_url=url, timeout=60) as client,
            ):
                for i in range(ASKED):
                    await socket.subscribe(str(i), FORECAST, {"i": _input(i + 1)})
                refused = []
                while len(refused) < ASKED - CAP:
                    message = await socket.message(timeout=60)
                    if message["type"] == "next":
                        refused.append(message["payload"])
                assert all(error_codes(r) == ["RATE_LIMITED"] for r in refused), refused
                assert all(r["errors"][0]["extensions"]["retryAfter"] >= 1 for r in refused)
                await wait_until(
                    lambda: forecasts.trainings.in_flight == CAP, what="her trainings to queue"
                )
                # Over HTTP too, while her trainings are in flight.
                over = await graphql(client, FORECAST, mallory, {"i": _input(30)})
                assert error_codes(over) == ["RATE_LIMITED"], over
                (busy,) = forecasts.pool.pids
            # The socket is closed: nobody waits for her trainings any more.
            await wait_until(
                lambda: forecasts.trainings.in_flight == 0, what="her trainings to be cancelled"
            )
            gone = process_table.wait_for_none(
                lambda: [p for p in process_table.processes() if p.pid == busy], timeout=10
            )
            assert not gone, "the training that was running was stopped with its process"
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                answer = await graphql(client, FORECAST, victor, {"i": _input(7)})
            assert "errors" not in answer, answer
            assert len(answer["data"]["forecast"]["points"]) == 7
    finally:
        await runtime.close()
