"""Auth at the edge: only valid access tokens reach the resolvers."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from support import error_codes, graphql

from salesflow_graphql.auth import Role, mint_access_token, mint_refresh_token, verify_access_token
from salesflow_graphql.config import Settings

QUERY = "{ salesAnalytics { kpis { orders } } }"


def _forged(settings: Settings) -> str:
    return mint_access_token("another-secret-of-at-least-thirty-two-bytes!", Role.ADMIN)


def _expired(settings: Settings) -> str:
    return mint_access_token(settings.auth.jwt_secret, Role.USER, now=time.time() - 7200)


def _wrong_issuer(settings: Settings) -> str:
    return mint_access_token(settings.auth.jwt_secret, Role.USER, issuer="someone-else")


def _refresh(settings: Settings) -> str:
    return mint_refresh_token(settings.auth.jwt_secret)


def _no_expiry(settings: Settings) -> str:
    return jwt.encode(
        {"sub": "x", "iss": "salesflow-app", "role": "USER"},
        settings.auth.jwt_secret.encode(),
        "HS256",
    )


def _unknown_role(settings: Settings) -> str:
    claims = {"sub": "x", "iss": "salesflow-app", "role": "ROOT", "exp": int(time.time()) + 60}
    return jwt.encode(claims, settings.auth.jwt_secret.encode(), "HS256")


def _none_algorithm(settings: Settings) -> str:
    claims = {"sub": "x", "iss": "salesflow-app", "role": "ADMIN", "exp": int(time.time()) + 60}
    return jwt.encode(claims, None, algorithm="none")


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (_forged, "INVALID_SIGNATURE"),
        (_expired, "TOKEN_EXPIRED"),
        (_wrong_issuer, "AUTH_FAILED"),
        (_refresh, "AUTH_FAILED"),
        (_no_expiry, "AUTH_FAILED"),
        (_unknown_role, "AUTH_FAILED"),
        (_none_algorithm, "AUTH_FAILED"),
    ],
)
async def test_bad_tokens_get_401_unauthenticated(
    gateway: httpx.AsyncClient, settings: Settings, make_token, reason: str
) -> None:
    answer = await graphql(gateway, QUERY, make_token(settings), expect_status=401)
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert answer["errors"][0]["extensions"]["reason"] == reason
    assert "data" not in answer


async def test_missing_token_gets_401_with_a_bearer_challenge(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/graphql", json={"query": QUERY})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_a_malformed_authorization_header_is_refused(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    response = await gateway.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Token {user_token}"}
    )
    assert response.status_code == 401


async def test_graphiql_page_loads_without_a_token(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_queries_over_get_need_a_token_too(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    anonymous = await gateway.get("/graphql", params={"query": '{ product(sku: "x") { sku } }'})
    assert anonymous.status_code == 401
    allowed = await gateway.get(
        "/graphql",
        params={"query": '{ product(sku: "no-such-sku") { sku } }'},
        headers={"Authorization": f"Bearer {user_token}"},
    )
    assert allowed.status_code == 200
    assert allowed.json()["data"] == {"product": None}


def test_claims_of_an_access_token_become_the_principal(settings: Settings) -> None:
    token = mint_access_token(
        settings.auth.jwt_secret, Role.ADMIN, subject="+15551234567", username="ada"
    )
    principal = verify_access_token(token, settings.auth.jwt_secret)
    assert principal.role is Role.ADMIN and principal.is_admin
    assert principal.subject == "+15551234567" and principal.username == "ada"
    assert principal.token == token


# ------------------------------------------------------------------ clock skew


def test_clock_skew_leeway_is_60_seconds_by_default() -> None:
    assert Settings.from_env({}).auth.jwt_leeway_s == 60


async def test_a_token_issued_by_a_clock_running_ahead_is_accepted(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    """Java's clock 2 s ahead: iat (and nbf) in the future, within the leeway."""
    ahead = time.time() + 2
    claims = {
        "sub": "+15550000009",
        "iss": "salesflow-app",
        "role": "USER",
        "iat": int(ahead),
        "nbf": int(ahead),
        "exp": int(ahead) + 3600,
    }
    token = jwt.encode(claims, settings.auth.jwt_secret.encode(), "HS256")
    # (No Java call: the stand-in shares this machine's clock, Java would not.)
    answer = await graphql(gateway, "{ alerts(limit: 1) { id } }", token)
    assert "errors" not in answer
    with pytest.raises(Exception, match="not valid yet"):
        verify_access_token(token, settings.auth.jwt_secret, leeway_s=0)


def test_expiry_allows_the_leeway_and_no_more(settings: Settings) -> None:
    now = time.time()
    just_expired = mint_access_token(settings.auth.jwt_secret, Role.USER, ttl_s=60, now=now - 90)
    long_expired = mint_access_token(settings.auth.jwt_secret, Role.USER, ttl_s=60, now=now - 200)
    assert verify_access_token(just_expired, settings.auth.jwt_secret, leeway_s=60).expires_at
    with pytest.raises(Exception, match="expired"):
        verify_access_token(long_expired, settings.auth.jwt_secret, leeway_s=60)


def test_a_verified_token_is_remembered_but_its_expiry_is_checked_each_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesflow_graphql.edge import auth as edge_auth

    token = mint_access_token(settings.auth.jwt_secret, Role.USER, ttl_s=60)
    header = f"Bearer {token}"
    first = edge_auth.authenticate(header, settings)
    assert edge_auth.authenticate(header, settings) is first, "the second check is a lookup"
    with pytest.raises(Exception, match="signature"):
        edge_auth.authenticate(f"Bearer {token[:-4]}AAAA", settings)
    assert edge_auth.VERIFIED.get(settings.auth.jwt_secret, f"{token[:-4]}AAAA") is None
    later = time.time() + 60 + settings.auth.jwt_leeway_s + 5
    monkeypatch.setattr(edge_auth.time, "time", lambda: later)
    monkeypatch.setattr("jwt.api_jwt.datetime", _FrozenDatetime(later))
    with pytest.raises(Exception, match="expired"):
        edge_auth.authenticate(header, settings)


class _FrozenDatetime:
    """``datetime`` for PyJWT with ``now`` at a given Unix time."""

    def __init__(self, at: float) -> None:
        from datetime import UTC, datetime

        self._now = datetime.fromtimestamp(at, tz=UTC)
        self._real = datetime

    def now(self, tz: object = None) -> object:
        return self._now

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)
