"""The per-request context every resolver sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..auth import Principal
from ..errors import Unauthenticated
from ..sor.reading import Reading
from .loaders import Loaders

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
    #: The request's reading of Java's data, which knows how old the data behind the answer is.
    data: Reading | None = None


@dataclass
class GatewayContext:
    """Runtime services, the caller, and this request's reading of the data and loaders."""

    runtime: Runtime
    state: RequestState
    request: Any = None
    response: Any = None
    #: The ``connection_init`` payload of a WebSocket connection.
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: The GraphQL fields' DataLoaders, over :attr:`data`.
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.read_anew(self.state.principal.token if self.state.principal else None)

    @property
    def data(self) -> Reading:
        """What the services read through (their ``DataSource``) for this request."""
        return self.loaders.data

    def read_anew(self, token: str | None) -> None:
        """A new reading of Java's data as ``token``'s holder (the current generation, nothing
        remembered), with loaders over it."""
        self.loaders = Loaders(self.runtime.source.reading(token))
        self.state.data = self.loaders.data

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
