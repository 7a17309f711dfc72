"""Signed, expiring links that work without a bearer token (downloads, error workbooks).

``/reports/<id>/download?exp=<unix>&sig=<hex>``: ``sig`` is HMAC-SHA256 over the
path and the expiry, keyed by a key derived from the server secret (so a link
signature can never be replayed as anything else). Comparison is constant-time;
anything that is not ASCII is refused before it (``compare_digest`` cannot take it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from ..errors import Forbidden

_PURPOSE = b"salesflow-signed-links-v1"


class LinkRejected(Forbidden):
    """A signed link that is tampered with, malformed or expired."""


class LinkSigner:
    def __init__(self, secret: str, *, ttl_s: int = 3600) -> None:
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def sign(self, path: str, *, ttl_s: int | None = None, now: float | None = None) -> str:
        """``path`` with ``exp`` and ``sig`` query parameters appended."""
        expires = int((now if now is not None else time.time()) + (ttl_s or self.ttl_s))
        return f"{path}?{urlencode({'exp': expires, 'sig': self._signature(path, expires)})}"

    def verify(
        self, path: str, exp: str | None, sig: str | None, *, now: float | None = None
    ) -> None:
        """Raise :class:`LinkRejected` unless ``sig`` signs ``path`` and ``exp`` is in the future."""
        if not exp or not sig or not exp.isdigit() or len(exp) > 12:
            raise LinkRejected("This link is incomplete.")
        if not sig.isascii():  # compare_digest refuses to compare non-ASCII text
            raise LinkRejected("This link is not valid.")
        expected = self._signature(path, int(exp))
        if not hmac.compare_digest(expected, sig):
            raise LinkRejected("This link is not valid.")
        if int(exp) < (now if now is not None else time.time()):
            raise LinkRejected("This link has expired; ask for a new one.")

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
