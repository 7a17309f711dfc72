"""gql_usage.py: May's revenue by week with date variables, then the next live alert."""

from datetime import date

from gql import GraphQLRequest
from salesflow_gql import salesflow_client

SALES = GraphQLRequest(
    "query($r: DateRangeInput) { salesAnalytics(range: $r, granularity: WEEK) {"
    " kpis { revenue } trend { start end complete revenue } } }",
    variable_values={"r": {"start": date(2025, 5, 1), "end": date(2025, 5, 31)}},
)
ALERTS = "subscription($after: ID) { alerts(after: $after) { id kind message detectedAt } }"


async def may_then_next_alert(url: str, token: str, sdl: str, after: str | None = None):
    """sdl: the text of schema.graphql; after: the last alert id seen (None: from now on)."""
    async with salesflow_client(url, token, sdl) as session:
        may = await session.execute(SALES)  # trend[0]["start"] is a datetime.date
    alerts = GraphQLRequest(ALERTS, variable_values={"after": after})
    async with salesflow_client(url, token, sdl, websocket=True) as session:
        async for result in session.subscribe(alerts):
            return may, result["alerts"]  # detectedAt is a datetime.datetime
