"""JWT access tokens exactly as the SalesFlow Java service issues them.

HS256 with the shared secret's UTF-8 bytes, ``iss`` = ``salesflow-app``, a
``role`` claim of ``USER`` or ``ADMIN``. Refresh tokens carry the same key and
issuer but no ``role``, so a token without ``role`` is never an access token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

ISSUER = "salesflow-app"
ACCESS_TOKEN_TTL_S = 3600
REFRESH_TOKEN_TTL_S = 14 * 24 * 3600


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class TokenProblem(StrEnum):
    """Why a token was refused; maps onto Java's 401 codes."""

    MISSING = "MISSING"
    EXPIRED = "TOKEN_EXPIRED"
    BAD_SIGNATURE = "INVALID_SIGNATURE"
    INVALID = "AUTH_FAILED"


class TokenRejected(Exception):
    def __init__(self, problem: TokenProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: who they are, their role, and the raw token to forward."""

    subject: str
    username: str
    role: Role
    token: str
    #: The token's ``exp`` (Unix seconds): a WebSocket is closed when it passes.
    expires_at: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def mint_access_token(
    secret: str,
    role: Role | str,
    *,
    subject: str = "+15550000000",
    username: str | None = None,
    ttl_s: int = ACCESS_TOKEN_TTL_S,
    issuer: str = ISSUER,
    now: float | None = None,
) -> str:
    """An access token with the claims Java puts in one."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": subject,
        "iss": issuer,
        "role": str(Role(role)),
        "username": username or str(role).lower(),
        "iat": issued,
        "exp": issued + ttl_s,
    }
    return jwt.encode(claims, secret.encode(), algorithm="HS256")


def mint_refresh_token(
    secret: str, *, subject: str = "+15550000000", issuer: str = ISSUER, now: float | None = None
) -> str:
    """A refresh token: same key and issuer, no ``role``, 14-day life."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "iss": issuer, "iat": issued, "exp": issued + REFRESH_TOKEN_TTL_S}
    return jwt.encode(claims, secret.encode(), algorithm="HS256")


def verify_access_token(
    token: str | None, secret: str, *, issuer: str = ISSUER, leeway_s: float = 0.0
) -> Principal:
    """Check signature, ``exp``, ``iss`` and the ``role`` claim, or raise :class:`TokenRejected`.

    ``exp``, ``nbf`` and ``iat`` allow ``leeway_s`` seconds of clock skew.
    """
    if not token:
        raise TokenRejected(TokenProblem.MISSING, "A bearer token is required.")
    try:
        claims = jwt.decode(
            token,
            secret.encode(),
            algorithms=["HS256"],
            issuer=issuer,
            leeway=leeway_s,
            options={"require": ["exp", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected(TokenProblem.EXPIRED, "The token has expired.") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected(TokenProblem.BAD_SIGNATURE, "The token signature is invalid.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenRejected(TokenProblem.INVALID, "The token is not valid yet.") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejected(TokenProblem.INVALID, "The token was not issued by SalesFlow.") from exc
    except jwt.PyJWTError as exc:
        raise TokenRejected(TokenProblem.INVALID, "The token is malformed or incomplete.") from exc
    role = claims.get("role")
    if role not in (Role.USER, Role.ADMIN):
        raise TokenRejected(TokenProblem.INVALID, "Not an access token (no valid role claim).")
    return Principal(
        subject=str(claims["sub"]),
        username=str(claims.get("username") or claims["sub"]),
        role=Role(role),
        token=token,
        expires_at=float(claims["exp"]),
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <jwt>`` header value, if any."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
