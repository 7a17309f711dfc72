"""The response cache: a successful query's JSON answer, reused before any parsing.

Warm dashboard queries should not pay for GraphQL execution again: a successful
query's JSON answer is kept, keyed by the role, the business date and a hash
of the request (document, variables, operation name), for what is left of the
analytics TTL of the data it was built from. A hit is answered before any
parsing or execution.
"""

from __future__ import annotations

import hashlib
import time

from starlette.requests import Request

from ..cache import MISS
from ..runtime import Runtime
from .context import RequestState


class ResponseCache:
    """Keys, lookups and stores of whole answers (see the module's docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def key(self, request: Request, body: bytes, role: str) -> str | None:
        """The answer's key, or None for a request whose answer is never cached (uploads)."""
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "application/json" not in content_type:
            return None  # uploads and other bodies are never cached
        material = body if request.method == "POST" else request.url.query.encode()
        digest = hashlib.blake2b(material, digest_size=20).hexdigest()
        return f"resp:{role}:{self.runtime.settings.today().isoformat()}:{digest}"

    async def lookup(self, key: str) -> bytes | None:
        """The cached answer, or None."""
        cached = await self.runtime.cache.get(key, layer="response")
        return None if cached is MISS else cached

    async def store(self, key: str, body: bytes, state: RequestState) -> None:
        await self.runtime.cache.set(key, body, self.remaining_ttl(state))

    def remaining_ttl(self, state: RequestState) -> float:
        """An answer lives as long as the oldest data it was built from may."""
        ttl = self.runtime.settings.analytics_ttl_s
        oldest = state.loaders.oldest_data_at if state.loaders else None
        return ttl if oldest is None else ttl - (time.time() - oldest)
