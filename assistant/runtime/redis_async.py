"""This process's asyncio Redis clients (REDIS_URL), one per event loop; None without Redis.

Commands share a bounded pool (a burst of streams waits for a connection rather than opening
hundreds). A follower's XREAD blocks a connection while it waits, so followers have a pool of
their own and never starve the commands.
"""

import redis
import redis.asyncio as aioredis
from django.conf import settings

from assistant.runtime.aio import PerLoop

ERRORS = (redis.RedisError, OSError)


def _make(max_connections: int, socket_timeout: float) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=max_connections,
        timeout=5,
        socket_connect_timeout=0.5,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


_commands: PerLoop[aioredis.Redis] = PerLoop(lambda: _make(64, 5))
_readers: PerLoop[aioredis.Redis] = PerLoop(lambda: _make(512, 30))


def commands() -> aioredis.Redis | None:
    return _commands.get() if getattr(settings, "REDIS_URL", "") else None


def reader() -> aioredis.Redis | None:
    return _readers.get() if getattr(settings, "REDIS_URL", "") else None


def reset() -> None:
    """Forget the clients (after REDIS_URL changes, in tests)."""
    _commands.reset()
    _readers.reset()
