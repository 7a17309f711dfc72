"""salesflow_gql.py: the gateway from Python with gql 4; Date and DateTime as Python objects."""

from datetime import date, datetime

from gql import Client
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from gql.utilities import update_schema_scalars
from graphql import GraphQLScalarType, build_schema

# Variables: date/datetime objects out as ISO text; results: ISO text in as objects.
DATE = GraphQLScalarType("Date", serialize=date.isoformat, parse_value=date.fromisoformat)
DATETIME = GraphQLScalarType(
    "DateTime", serialize=datetime.isoformat, parse_value=datetime.fromisoformat
)


def salesflow_client(url: str, token: str, schema_sdl: str, *, websocket: bool = False) -> Client:
    """url: "https://gateway.example/graphql"; schema_sdl: the text of schema.graphql."""
    schema = build_schema(schema_sdl)
    update_schema_scalars(schema, [DATE, DATETIME])
    auth = {"Authorization": f"Bearer {token}"}
    if websocket:  # subscriptions: graphql-transport-ws, the token in connection_init
        transport = WebsocketsTransport(
            url=url.replace("http", "ws", 1),
            init_payload=auth,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
    else:  # a query may run up to the gateway's 30 s (SALESFLOW_REQUEST_TIMEOUT_S): wait for it
        transport = HTTPXAsyncTransport(url=url, headers=auth, timeout=35)
    return Client(
        transport=transport,
        schema=schema,
        serialize_variables=True,
        parse_results=True,
        execute_timeout=35,
    )
