"""GraphQL over HTTP: one operation out of a GET, a JSON POST or a multipart upload.

The request's parameters are read and checked here, before any parsing of
the document; each problem is a :class:`~salesflow_graphql.edge.Refusal`
(a GraphQL error with a code, no ``data``):

- a body that is not JSON (invalid UTF-8, nested past 1024 levels, not JSON at
  all): HTTP 400, reason ``INVALID_JSON``;
- a batch (a JSON array): HTTP 400, reason ``BATCH_NOT_SUPPORTED``;
- a parameter of the wrong type (``query`` not a string, ``variables`` not an
  object...): HTTP 400, reason ``INVALID_REQUEST``;
- a content type other than JSON or multipart: HTTP 415;
- no document at all: HTTP 400, reason ``MISSING_QUERY``;
- a document over ``SALESFLOW_MAX_DOCUMENT_BYTES``: HTTP 413, reason
  ``DOCUMENT_TOO_LARGE``, refused before it is parsed.

Persisted queries (hashes, trusted documents) are resolved on the way
(:mod:`.persisted`). Which operation may run over which method is the view's
(``endpoint.py``): a mutation over GET is HTTP 405, a subscription over HTTP
is refused with a pointer to the WebSocket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter
from strawberry.http import GraphQLRequestData

from ..edge.envelope import Refusal
from ..errors import ErrorCode
from .persisted import PersistedQueries

PARAMETERS = {"query": str, "operationName": str, "variables": dict, "extensions": dict}


def decode_json(data: str | bytes) -> Any:
    """JSON with orjson: invalid UTF-8 and nesting past 1024 levels are decoding errors."""
    return orjson.loads(data)


def _invalid(message: str, reason: str = "INVALID_REQUEST", status: int = 400) -> Refusal:
    return Refusal(status, ErrorCode.BAD_USER_INPUT, message, reason=reason)


def _json_value(raw: str | bytes, where: str) -> Any:
    try:
        return decode_json(raw)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"{where} is not valid JSON: {exc}.", "INVALID_JSON") from None


async def read_operation(
    view: Any,
    request: AsyncHTTPRequestAdapter,
    persisted: PersistedQueries,
    max_document_bytes: int,
) -> GraphQLRequestData:
    """The operation a request asks for (:class:`Refusal` when there is none to run)."""
    content_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if request.method == "GET":
        data: Any = _from_query_string(request.query_params)
    elif content_type == "application/json":
        data = _json_value(await request.get_body(), "The request body")
    elif content_type == "multipart/form-data":
        data = await view.parse_multipart(request)
    else:
        raise _invalid(
            f"Unsupported content type {content_type or '(none)'!r}: send application/json, or "
            "multipart/form-data for an upload.",
            "UNSUPPORTED_MEDIA_TYPE",
            415,
        )
    parameters = _parameters(data)
    query = await persisted.document(
        parameters.get("query"), parameters.get("extensions"), parameters.get("documentId")
    )
    if query is None:
        raise _invalid(
            "The request has no GraphQL document: send it as `query` (or, for a persisted "
            "query, its hash in extensions.persistedQuery).",
            "MISSING_QUERY",
        )
    if len(query) > max_document_bytes or len(query.encode()) > max_document_bytes:
        raise Refusal(
            413,
            ErrorCode.BAD_USER_INPUT,
            f"The GraphQL document is larger than the limit of {max_document_bytes:,} bytes; "
            "it was not parsed. Send a shorter document (long values belong in variables).",
            outcome="too_large",
            reason="DOCUMENT_TOO_LARGE",
            limitBytes=max_document_bytes,
        )
    return GraphQLRequestData(
        query=query,
        variables=parameters.get("variables"),
        operation_name=parameters.get("operationName"),
        extensions=parameters.get("extensions"),
        protocol="http",
    )


def _from_query_string(params: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in (*PARAMETERS, "documentId"):
        value = params.get(name)
        if value in (None, ""):
            continue  # the empty string is the same as leaving it out
        data[name] = (
            _json_value(value, f"The {name!r} parameter")
            if name
            in (
                "variables",
                "extensions",
            )
            else value
        )
    return data


def _parameters(data: Any) -> dict[str, Any]:
    if isinstance(data, list):
        raise _invalid(
            "Batched requests (a JSON array of operations) are not supported: send one "
            "operation per request.",
            "BATCH_NOT_SUPPORTED",
        )
    if not isinstance(data, dict):
        raise _invalid(
            "The request must be a JSON object with `query` and optionally `operationName`, "
            "`variables` and `extensions`."
        )
    checked: dict[str, Any] = {}
    for name, kind in (*PARAMETERS.items(), ("documentId", str)):
        value = data.get(name)
        if value is None or (name == "operationName" and value == ""):
            continue
        if not isinstance(value, kind):
            what = "a string" if kind is str else "an object"
            raise _invalid(f"The parameter {name!r} must be {what} (or null).")
        checked[name] = value
    return checked
