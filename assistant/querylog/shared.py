"""What every worker reads of the rows and votes waiting to be written (log_writer): Redis
(REDIS_URL), which the workers share; without it the Django cache.

Raw Redis, not the Django cache: an answer's record is written from the event loop before its
`done` goes out (redis.asyncio, no thread hop, no cache object per request: the request path
pays one SET), and read from sync code with one client per process. A Redis failure leaves
lookups to the process's own queue; it never fails a request.
"""

import json
import logging
import threading
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder

from assistant.runtime import redis_async
from assistant.runtime.aio import PerLoop

log = logging.getLogger(__name__)

# An outage this long still finds what waits (a written row's record is removed at once).
TTL = 24 * 3600
TIMEOUT = 0.5  # seconds a Redis call may take; the answer's `done` waits on the write
_ERRORS = (*redis_async.ERRORS, TimeoutError)
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _aclient() -> aioredis.Redis:
    # The loop's own pool, beside the flights': a SET waits TIMEOUT at most without
    # asyncio.wait_for (a task per answer); a burst of answers shares 64 connections.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=64,
        timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        socket_timeout=TIMEOUT,
    )
    return aioredis.Redis(connection_pool=pool)


_aclients: PerLoop[aioredis.Redis] = PerLoop(_aclient)
_last_warning = 0.0


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)  # datetimes and UUIDs as strings


def _client() -> redis.Redis | None:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(
                url,
                redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT),
            )
    return client


def _failed(exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:  # once a minute while Redis fails
        _last_warning = time.monotonic()
        log.warning("query log: Redis unavailable, waiting rows are found in-process: %s", exc)


def put(items: dict[str, Any]) -> None:
    """Store JSON-able values under `items`' keys, for TTL."""
    client = _client()
    if client is None:
        cache.set_many({key: json.loads(_dumps(v)) for key, v in items.items()}, TTL)
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, _dumps(value), ex=TTL)
        pipe.execute()
    except _ERRORS as exc:
        _failed(exc)


async def aput(items: dict[str, Any]) -> None:
    """put() from the event loop."""
    client = _aclients.get() if getattr(settings, "REDIS_URL", "") else None
    if client is None:  # the Django cache, whichever it is: not on the loop
        await sync_to_async(put, thread_sensitive=False)(items)
        return
    try:
        if len(items) == 1:  # an answer: one SET
            ((key, value),) = items.items()
            await client.set(key, _dumps(value), ex=TTL)
        else:
            pipe = client.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(key, _dumps(value), ex=TTL)
            await pipe.execute()
    except _ERRORS as exc:
        _failed(exc)


def get_many(keys: list[str]) -> dict[str, Any]:
    client = _client()
    if client is None:
        return cache.get_many(keys)
    if not keys:
        return {}
    try:
        values = client.mget(keys)
    except _ERRORS as exc:
        _failed(exc)
        return {}
    return {k: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}


def delete_many(keys: list[str]) -> None:
    client = _client()
    if client is None:
        cache.delete_many(keys)
        return
    if keys:
        try:
            client.delete(*keys)
        except _ERRORS as exc:
            _failed(exc)
