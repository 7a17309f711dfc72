"""The GraphQL-over-HTTP answer shape: media type, status code and error envelope.

Every refusal, on every route, is a GraphQL error: a JSON body
``{"errors": [{"message", "extensions": {"code", ...}}]}`` without a ``data``
key (nothing ran), in the media type the client asked for.

Media type (the GraphQL-over-HTTP spec): ``application/graphql-response+json``
when the ``Accept`` header prefers it (Apollo Client 4 sends
``application/graphql-response+json,application/json;q=0.9``), else
``application/json`` (also without ``Accept``, for ``*/*`` and for legacy
clients).

Status of a GraphQL answer (:func:`graphql_status`): 200 with ``data``. A
request error (no ``data``: the document did not parse or validate, the
operation could not be chosen, the variables did not coerce) is 400 in
``application/graphql-response+json`` and 200 in ``application/json``, where
the spec keeps 200 for every well-formed request. Refusals keep their own
status in both: 400 for a request that is not well-formed (not JSON, a batch,
wrong parameter types), 401, 403, 405 (a mutation over GET), 408, 413, 415,
429, 504.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..errors import ErrorCode, GatewayError
from .exchange import Exchange

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_CONTENT_TYPE = {JSON: JSON, GRAPHQL_RESPONSE: f"{GRAPHQL_RESPONSE}; charset=utf-8"}

#: The HTTP status of a refusal by its code, where the code says it all.
STATUS_OF_CODE: Mapping[ErrorCode, int] = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UPSTREAM_UNAVAILABLE: 503,
    ErrorCode.QUERY_TOO_COMPLEX: 400,
    ErrorCode.INTERNAL: 500,
}


def negotiate(accept: str) -> str:
    """The response media type for a request's ``Accept`` header."""
    if GRAPHQL_RESPONSE not in accept:
        return JSON
    preferred, legacy = 0.0, 0.0
    for item in accept.split(","):
        kind, _, parameters = item.partition(";")
        quality = _quality(parameters)
        kind = kind.strip().lower()
        if kind == GRAPHQL_RESPONSE:
            preferred = max(preferred, quality)
        elif kind == JSON:
            legacy = max(legacy, quality)
    return GRAPHQL_RESPONSE if preferred > 0 and preferred >= legacy else JSON


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(1.0, max(0.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def content_type(media_type: str) -> str:
    """The ``Content-Type`` header value of an answer in ``media_type``."""
    return _CONTENT_TYPE.get(media_type, JSON)


def graphql_status(response_data: Mapping[str, Any], media_type: str) -> int:
    """The HTTP status of an executed (or refused by the schema) GraphQL answer."""
    if "data" in response_data:
        return 200
    return 400 if media_type == GRAPHQL_RESPONSE else 200


def error_body(message: str, code: ErrorCode | str, **extensions: Any) -> bytes:
    """``{"errors": [...]}`` with one error, and no ``data``."""
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": str(code), **extensions}}]}
    )


class Refusal(Exception):
    """A request refused before (or instead of) running: an HTTP status and one GraphQL error.

    ``outcome`` is the access line's and the metrics' word for it.
    """

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        outcome: str = "error",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.outcome = outcome
        self.headers = dict(headers or {})
        self.extensions = extensions

    @classmethod
    def of(cls, error: GatewayError, status: int | None = None) -> Refusal:
        """A :class:`GatewayError` raised by a route, answered with its code's status."""
        extensions = {k: v for k, v in error.as_extensions().items() if k != "code"}
        return cls(
            status or STATUS_OF_CODE.get(error.code, 500), error.code, error.message, **extensions
        )

    def error(self) -> dict[str, Any]:
        """The GraphQL error itself (a WebSocket ``error`` message carries a list of these)."""
        return {"message": self.message, "extensions": {"code": str(self.code), **self.extensions}}

    def body(self) -> bytes:
        return orjson.dumps({"errors": [self.error()]})

    def response(self, media_type: str, request_id: str) -> Response:
        return json_response(
            self.body(), media_type, request_id, status=self.status, headers=self.headers
        )


def json_response(
    body: bytes,
    media_type: str,
    request_id: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON answer in ``media_type`` carrying the request id."""
    response = Response(
        body, status_code=status, headers={**(headers or {}), "x-request-id": request_id}
    )
    response.headers["content-type"] = content_type(media_type)
    return response


async def refuse(
    refusal: Refusal, exchange: Exchange, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer ``refusal`` for the request of ``exchange`` and note it there."""
    exchange.answered(refusal.status, refusal.outcome, refusal.code)
    await refusal.response(exchange.media_type, exchange.request_id)(scope, receive, send)
