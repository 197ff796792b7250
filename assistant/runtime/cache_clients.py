"""One redis-py client per connection pool for Django's cache.

Django makes a cache object per request (per async context), django-redis a redis-py client
for each, and each client copies redis-py's response callbacks: about 13 KB per request,
measured with tracemalloc, held as long as the request — for a streamed answer, its whole
length. redis-py clients are safe to share between threads; the pools were shared already.
"""

from typing import Any

from django_redis.pool import ConnectionFactory
from redis import Redis


class SharedClientFactory(ConnectionFactory):
    _clients: dict[int, Redis] = {}  # by id() of the process-wide pool it wraps

    def get_connection(self, params: dict[str, Any]) -> Redis:
        pool = self.get_or_create_connection_pool(params)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), super().get_connection(params))
        return client
