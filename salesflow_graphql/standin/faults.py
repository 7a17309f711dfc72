"""Failure injection: what a slow, flaky or misrouted Java service looks like.

Faults apply to contract paths (``/api/v1/...``) only, never to the stand-in's
``/__standin`` control endpoints. The error draw is seeded per path: whether the
n-th request to a path fails depends only on the seed, the path and n, so a test
with ``error_rate=0.3`` sees the same failures every run, however its concurrent
requests to different paths interleave.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import anyio

ErrorBody = Literal["json", "html", "garbage"]
Garble = Literal["off", "html", "garbage"]
Decision = Literal["pass", "error", "garble"]

ERROR_BODIES = ("json", "html", "garbage")
GARBLES = ("off", "html", "garbage")

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
}


@dataclass
class Faults:
    """Knobs for injected trouble; change attributes directly or via :meth:`update`.

    - ``latency_s``: delay added to every request (also failing ones); lowering it
      (or :meth:`reset`) shortens the delays already under way, so a test that made
      Java slow leaves no request hanging once it makes Java healthy again.
    - ``error_rate``: chance (0..1) that a request fails with ``error_status``.
    - ``fail_next``: the next N requests fail for sure (counts down), before ``error_rate``.
    - ``error_status``/``error_body``: how a failure looks: Java's JSON error body
      (``"json"``), a proxy's HTML page (``"html"``), or a truncated body labelled
      JSON (``"garbage"``).
    - ``garble``: ``"html"`` or ``"garbage"`` makes EVERY request answer 200 with
      that body instead of the real answer (a misrouted proxy); ``"off"`` by default.
    - ``retry_after_s``: if set, failures carry a ``Retry-After`` header.
    - ``only_paths``: path prefixes relative to ``/api/v1`` (e.g. ``"/sales"``) the
      faults apply to; empty means every path.
    - ``seed``: seed of the error draw; :meth:`reset` or a new seed restarts every
      path's sequence.
    """

    latency_s: float = 0.0
    error_rate: float = 0.0
    fail_next: int = 0
    error_status: int = 500
    error_body: ErrorBody = "json"
    garble: Garble = "off"
    retry_after_s: float | None = None
    only_paths: tuple[str, ...] = ()
    seed: int = 0
    #: Requests seen so far per path (the draw's position in that path's sequence).
    _drawn: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check()

    def reset(self) -> None:
        """Back to a healthy service, RNG restarted."""
        fresh = Faults()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial JSON-style update; raises ``ValueError`` on unknown or bad values."""
        known = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        before = {name: getattr(self, name) for name in known}
        try:
            for name, value in changes.items():
                if name == "only_paths":
                    value = (value,) if isinstance(value, str) else tuple(value or ())
                elif name in ("latency_s", "error_rate") or (
                    name == "retry_after_s" and value is not None
                ):
                    value = float(value)
                elif name in ("fail_next", "error_status", "seed"):
                    value = int(value)
                setattr(self, name, value)
            self._check()
        except (TypeError, ValueError):
            for name, value in before.items():
                setattr(self, name, value)
            raise
        if "seed" in changes:
            self._drawn = {}

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON-ready values (for ``GET /__standin/faults``)."""
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["only_paths"] = list(self.only_paths)
        return data

    def applies_to(self, path: str) -> bool:
        return not self.only_paths or any(path.startswith(p) for p in self.only_paths)

    async def delay(self, path: str) -> None:
        """Wait ``latency_s`` (as it is now, re-read every tenth of a second) for ``path``."""
        started = time.monotonic()
        while self.applies_to(path):
            left = self.latency_s - (time.monotonic() - started)
            if left <= 0:
                return
            await anyio.sleep(min(left, 0.1))

    def decide(self, path: str) -> Decision:
        """What happens to the request for ``path`` (relative to ``/api/v1``)."""
        if not self.applies_to(path):
            return "pass"
        if self.garble != "off":
            return "garble"
        if self.fail_next > 0:
            self.fail_next -= 1
            return "error"
        if self.error_rate > 0 and self._draw(path) < self.error_rate:
            return "error"
        return "pass"

    def _draw(self, path: str) -> float:
        """The path's next number in [0, 1) of its own seeded sequence."""
        n = self._drawn.get(path, 0)
        self._drawn[path] = n + 1
        return random.Random(f"{self.seed}|{path}|{n}").random()

    def _check(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.latency_s < 0 or self.fail_next < 0:
            raise ValueError("latency_s and fail_next must not be negative")
        if not 400 <= self.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status (400..599)")
        if self.error_body not in ERROR_BODIES:
            raise ValueError(f"error_body must be one of {', '.join(ERROR_BODIES)}")
        if self.garble not in GARBLES:
            raise ValueError(f"garble must be one of {', '.join(GARBLES)}")


def html_page(status: int) -> bytes:
    """A reverse proxy's error page (or, with 200, a login page served by mistake)."""
    if status == 200:
        return (
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
            b"<form method='post' action='/login'><input name='username'><input name='password' "
            b"type='password'><button>Sign in</button></form></body></html>"
        )
    reason = _REASONS.get(status, "Error").encode()
    code = str(status).encode()
    return (
        b"<html>\r\n<head><title>" + code + b" " + reason + b"</title></head>\r\n<body>\r\n"
        b"<center><h1>" + code + b" " + reason + b"</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )


def garbage_json(status: int) -> bytes:
    """Bytes labelled ``application/json`` that no JSON parser accepts (a cut-off answer)."""
    if status == 200:
        return b'[{"id":1,"saleDate":"2025-01-0\xff\xfe{{"items":[{"productId":'
    return b'{"status":' + str(status).encode() + b',"code":"INTERNAL_ERR\x00\xff'
