"""gql_usage.py: revenue by week with date variables, then the next live alert."""

from datetime import date

from gql import GraphQLRequest
from salesflow_gql import salesflow_client

SALES = """query($r: DateRangeInput) { salesAnalytics(range: $r, granularity: WEEK) {
  kpis { revenue } trend { start end complete revenue } } }"""
ALERTS = "subscription($after: ID) { alerts(after: $after) { id kind message detectedAt } }"


async def weeks_then_next_alert(
    url: str, token: str, sdl: str, start: date, end: date, after: str | None = None
):
    """sdl: the text of schema.graphql; after: the last alert id seen (None: from now on)."""
    sales = GraphQLRequest(SALES, variable_values={"r": {"start": start, "end": end}})
    async with salesflow_client(url, token, sdl) as session:
        weeks = await session.execute(sales)  # trend[0]["start"] is a datetime.date
    alerts = GraphQLRequest(ALERTS, variable_values={"after": after})
    async with salesflow_client(url, token, sdl, websocket=True) as session:
        async for result in session.subscribe(alerts):
            return weeks, result["alerts"]  # detectedAt is a datetime.datetime
