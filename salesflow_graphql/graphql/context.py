"""The per-request context every resolver sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..auth import Principal
from ..errors import Unauthenticated
from ..sor.loaders import Loaders

if TYPE_CHECKING:
    from ..runtime import Runtime


@dataclass
class RequestState:
    """What the HTTP endpoint and the execution tell each other about one request."""

    request_id: str
    principal: Principal | None
    #: Set by the execution: the answer is a query's, without errors, safe to reuse.
    cacheable: bool = False
    #: Cleared by any resolver whose answer depends on who asks beyond the role.
    shareable: bool = True
    #: The request's loaders, which know how old the data behind the answer is.
    loaders: Loaders | None = None


@dataclass
class GatewayContext:
    """Runtime services, the caller, and this request's loaders."""

    runtime: Runtime
    state: RequestState
    loaders: Loaders
    request: Any = None
    response: Any = None
    #: The ``connection_init`` payload of a WebSocket connection.
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def absolute_url(self, path: str) -> str:
        """``path`` on the gateway's public URL (``SALESFLOW_PUBLIC_URL``, else the URL the
        request came in on), so that a page on another origin can follow it."""
        from ..edge import public_base_url

        scope = getattr(self.request, "scope", None)
        settings = self.runtime.settings
        if scope is None:
            return (settings.public_url or "").rstrip("/") + path
        return public_base_url(scope, settings) + path

    @property
    def principal(self) -> Principal:
        if self.state.principal is None:
            raise Unauthenticated("A valid bearer token is required.")
        return self.state.principal
