"""Identical questions in flight together make one upstream call.

The first request for a cache key becomes the leader: its producer publishes every event
(start, tokens, end) to a flight; every request for that key, the leader's own included,
listens to the flight, so waiters receive the tokens live. Across workers the flight is a
Redis stream (when REDIS_URL is set); otherwise, or while Redis is unreachable, it lives in
this process.
"""

import json
import logging
import threading
import uuid
from collections.abc import Iterator

from django.conf import settings

log = logging.getLogger(__name__)

TERMINAL = frozenset({"done", "error"})
LOCK_TTL_MS = 300_000
KEEP_AFTER_FINISH = 60
_PREFIX = "helpdesk:sf:"

Event = tuple[str, dict]


class LocalFlight:
    def __init__(self, key: str):
        self.key = key
        self.id = uuid.uuid4().hex
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._listeners = 0

    def publish(self, kind: str, data: dict) -> None:
        with self._cond:
            self._events.append((kind, data))
            self._cond.notify_all()

    def finish(self) -> None:
        with _local_lock:
            if _local.get(self.key) is self:
                del _local[self.key]

    def listen(self, heartbeat: float) -> Iterator[Event | None]:
        """Events from the first one; None after `heartbeat` seconds without any."""
        i = 0
        while True:
            with self._cond:
                if i >= len(self._events):
                    self._cond.wait(heartbeat)
                batch = self._events[i:]
            if not batch:
                yield None
                continue
            i += len(batch)
            for event in batch:
                yield event
                if event[0] in TERMINAL:
                    return

    def join(self) -> None:
        with self._cond:
            self._listeners += 1

    def leave(self) -> None:
        with self._cond:
            self._listeners -= 1

    def listeners(self) -> int:
        return self._listeners


class RedisFlight:
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0"
    )

    def __init__(self, client, key: str, flight_id: str):
        self.r = client
        self.key = key
        self.id = flight_id
        self._stream = f"{_PREFIX}stream:{flight_id}"
        self._subs = f"{_PREFIX}subs:{flight_id}"

    def publish(self, kind: str, data: dict) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.xadd(self._stream, {"k": kind, "d": json.dumps(data)})
        pipe.expire(self._stream, LOCK_TTL_MS // 1000)
        pipe.execute()

    def finish(self) -> None:
        self.r.expire(self._stream, KEEP_AFTER_FINISH)
        self.r.eval(self._RELEASE, 1, _lock_key(self.key), self.id)

    def listen(self, heartbeat: float) -> Iterator[Event | None]:
        last = "0-0"
        while True:
            reply = self.r.xread({self._stream: last}, block=int(heartbeat * 1000), count=200)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                kind = fields[b"k"].decode()
                yield kind, json.loads(fields[b"d"])
                if kind in TERMINAL:
                    return

    def join(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.incr(self._subs)
        pipe.expire(self._subs, LOCK_TTL_MS // 1000)
        pipe.execute()

    def leave(self) -> None:
        self.r.decr(self._subs)

    def listeners(self) -> int:
        return int(self.r.get(self._subs) or 0)


Flight = LocalFlight | RedisFlight

_local: dict[str, LocalFlight] = {}
_local_lock = threading.Lock()
_client = None
_client_lock = threading.Lock()


def _lock_key(key: str) -> str:
    return f"{_PREFIX}lock:{key}"


def _redis():
    """A Redis client of our own: XREAD blocks longer than the cache's short socket timeout."""
    global _client
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    if _client is None:
        import redis

        with _client_lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    url, socket_connect_timeout=0.5, socket_timeout=30, health_check_interval=30
                )
    return _client


def _redis_errors() -> tuple[type[Exception], ...]:
    try:
        import redis
    except ImportError:
        return ()
    return (redis.RedisError,)


def current(key: str) -> Flight | None:
    """The flight in progress for `key`, if any."""
    client = _redis()
    if client is not None:
        try:
            flight_id = client.get(_lock_key(key))
            return RedisFlight(client, key, flight_id.decode()) if flight_id else None
        except _redis_errors() as exc:
            log.warning("single-flight falls back to this process: %s", exc)
    return _local.get(key)


def lead_or_follow(key: str) -> tuple[Flight, bool]:
    """(flight, True) when this request leads the flight for `key`, else (flight, False)."""
    client = _redis()
    if client is not None:
        try:
            for _ in range(3):
                flight_id = uuid.uuid4().hex
                if client.set(_lock_key(key), flight_id, nx=True, px=LOCK_TTL_MS):
                    return RedisFlight(client, key, flight_id), True
                other = client.get(_lock_key(key))
                if other:
                    return RedisFlight(client, key, other.decode()), False
        except _redis_errors() as exc:
            log.warning("single-flight falls back to this process: %s", exc)
    with _local_lock:
        flight = _local.get(key)
        if flight is not None:
            return flight, False
        flight = _local[key] = LocalFlight(key)
        return flight, True
