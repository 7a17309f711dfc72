"""Redis connections are built in one place: ``salesflow_graphql.adapters.redis_clients``."""

from __future__ import annotations

import ast
from pathlib import Path

import salesflow_graphql
from salesflow_graphql.adapters.redis_clients import arq_client, arq_settings, redis_client

PACKAGE = Path(salesflow_graphql.__file__).parent
FACTORY = PACKAGE / "adapters" / "redis_clients.py"
#: Names whose call builds a Redis connection (redis-py's and arq's constructors).
BUILDERS = {
    "from_url",
    "from_dsn",
    "ConnectionPool",
    "Redis",
    "StrictRedis",
    "ArqRedis",
    "RedisSettings",
    "create_pool",
}


def _builder_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in BUILDERS:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}(...)")
    return found


def test_nothing_but_the_factory_builds_a_redis_connection() -> None:
    offenders = [
        call
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != FACTORY
        for call in _builder_calls(path)
    ]
    assert offenders == []


def test_the_scan_sees_the_factory_s_own_calls() -> None:
    # The check above could pass by finding nothing anywhere; here it finds what it should.
    assert {line.split()[-1] for line in _builder_calls(FACTORY)} >= {
        "from_url(...)",
        "ArqRedis(...)",
        "from_dsn(...)",
    }


async def test_clients_carry_the_url_and_timeouts() -> None:
    client = redis_client("redis://127.0.0.1:6390/3", connect_timeout_s=1.5, timeout_s=None)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"]) == (6390, 3)
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (1.5, None)
    assert redis_client("redis://h/0").connection_pool.connection_kwargs["socket_timeout"] == 5.0
    single = redis_client("redis://h/0", single_connection=True)
    assert single.single_connection_client
    arq = arq_client("redis://h:6391/2", "q")
    assert arq.default_queue_name == "q"
    assert arq.connection_pool.connection_kwargs["port"] == 6391
    assert arq.connection_pool.connection_kwargs.get("socket_timeout") is None
    assert (arq_settings("redis://h:6391/2").port, arq_settings("redis://h:6391/2").database) == (
        6391,
        2,
    )
    for opened in (client, single, arq):
        await opened.aclose()
