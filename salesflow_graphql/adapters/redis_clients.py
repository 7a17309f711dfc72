"""The one place that builds Redis connections: clients, pools, arq's pool and settings.

Every Redis user of the gateway (cache, alert bus and ledger, rate limit, job
runner, worker) asks here for its connection with the URL of
``SALESFLOW_REDIS_URL`` and the timeouts its use needs; nothing else calls
``Redis.from_url`` or builds a ``ConnectionPool`` (``tests/test_redis_clients.py``
checks). The ``redis`` package is imported on first use, so a gateway without
Redis never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arq.connections import ArqRedis, RedisSettings
    from redis.asyncio import Redis

#: Seconds to open a connection, unless a caller needs otherwise.
CONNECT_TIMEOUT_S = 2.0
#: Seconds one command may wait for its answer, unless a caller needs otherwise.
COMMAND_TIMEOUT_S = 5.0


def redis_client(
    url: str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    timeout_s: float | None = COMMAND_TIMEOUT_S,
    single_connection: bool = False,
) -> Redis:
    """A client of ``url``; ``timeout_s=None`` lets a command block (pub/sub listeners).

    ``single_connection``: one connection of its own, no pool (a blocking reader).
    """
    from redis.asyncio import Redis

    return Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=timeout_s,
        single_connection_client=single_connection,
    )


def arq_client(url: str, queue_name: str) -> ArqRedis:
    """arq's client of ``url`` for ``queue_name``, with no command timeout.

    The job store's pub/sub connection blocks by design; each store operation
    has its own deadline instead.
    """
    from arq.connections import ArqRedis
    from redis.asyncio import ConnectionPool

    pool = ConnectionPool.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    return ArqRedis(pool, default_queue_name=queue_name)


def arq_settings(url: str) -> RedisSettings:
    """What an ``arq.Worker`` connects with (arq's own timeouts and reconnects)."""
    from arq.connections import RedisSettings

    return RedisSettings.from_dsn(url)
