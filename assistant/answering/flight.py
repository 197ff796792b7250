"""Identical questions in flight together make one model call (single-flight).

The first request for a cache key leads: its producer publishes every event to a flight, and
every request for that key, the leader's own included, listens to it, so waiters receive the
tokens live. The flight lives in the leader's process: its listeners there are woken in
memory. With Redis, a lock names the flight for every worker, and the events are mirrored to a
Redis stream that followers in other workers read; the mirror writes what all of the process's
flights published meanwhile in one round trip. Without Redis, or while it is unreachable,
flights are shared within the process only.
"""

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable

from assistant.answering.events import TERMINAL, Event, decode, encode
from assistant.runtime import redis_async
from assistant.runtime.aio import PerLoop

log = logging.getLogger(__name__)

LOCK_TTL_MS = 300_000
KEEP_AFTER_FINISH = 60
_PREFIX = "helpdesk:sf:"


def _lock_key(key: str) -> str:
    return f"{_PREFIX}lock:{key}"


def _stream_key(flight_id: str) -> str:
    return f"{_PREFIX}stream:{flight_id}"


def _subs_key(flight_id: str) -> str:
    return f"{_PREFIX}subs:{flight_id}"


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class _Mirror:
    """Writes the flights' events to their Redis streams, for followers in other workers. What
    the loop's flights publish while a write is on its way goes in the next one, as one
    pipeline: a thousand answers streaming at once would otherwise cost a round trip (and two
    commands) per event. One writer per event loop; the order of each flight's events holds."""

    def __init__(self, client):
        self.client = client
        self._pending: list[tuple[str, str, str, int]] = []  # stream, kind, JSON, TTL
        self._writing: asyncio.Task | None = None

    def add(self, stream: str, event: Event, ttl: int) -> None:
        kind, data = encode(event)
        self._pending.append((stream, kind, data, ttl))
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def drain(self) -> None:
        """Until everything added so far is written (or given up on)."""
        while self._writing is not None:
            await asyncio.shield(self._writing)

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                ttls: dict[str, int] = {}
                try:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for stream, kind, data, ttl in batch:
                            pipe.xadd(stream, {"k": kind, "d": data})
                            ttls[stream] = ttl
                        for stream, ttl in ttls.items():
                            pipe.expire(stream, ttl)
                        await pipe.execute()
                except redis_async.ERRORS as exc:  # followers elsewhere stall out to the docs
                    log.warning("could not mirror %d flight events to Redis: %s", len(batch), exc)
        finally:
            self._writing = None


_mirrors: PerLoop[_Mirror] = PerLoop(lambda: _Mirror(redis_async.commands()))


class Flight:
    """A flight led in this process. Its listeners may run in other event loops (tests,
    Celery), so they are woken through their own loop."""

    def __init__(self, key: str, flight_id: str = "", mirror: _Mirror | None = None):
        self.key = key
        self.id = flight_id or uuid.uuid4().hex
        self._mirror = mirror  # when other workers may follow
        self._events: list[Event] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._lock = threading.Lock()
        self._listeners = 0
        self._finished = False
        # Called once nobody listens any more: the producer stops the generation; and once
        # nobody listens in this process while other workers' readers may still.
        self.on_abandoned: Callable[[], None] | None = None
        self.on_local_empty: Callable[[], None] | None = None

    async def publish(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            waiters, self._waiters = self._waiters, []
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for loop, future in waiters:
            if loop is here:
                _wake(future)  # the common case: no self-pipe write per event
            else:
                loop.call_soon_threadsafe(_wake, future)
        if self._mirror is not None:
            ttl = KEEP_AFTER_FINISH if self._finished else LOCK_TTL_MS // 1000
            self._mirror.add(_stream_key(self.id), event, ttl)

    async def listen(self, heartbeat: float) -> AsyncIterator[Event | None]:
        """Every event from the first; None after `heartbeat` seconds without one."""
        loop = asyncio.get_running_loop()
        seen = 0
        while True:
            with self._lock:
                batch = self._events[seen:]
                if not batch:
                    future = loop.create_future()
                    self._waiters.append((loop, future))
            if not batch:
                try:
                    await asyncio.wait_for(future, heartbeat)
                except TimeoutError:
                    with self._lock:
                        if (loop, future) in self._waiters:
                            self._waiters.remove((loop, future))
                    yield None
                continue
            seen += len(batch)
            for event in batch:
                yield event
                if isinstance(event, TERMINAL):
                    return

    async def join(self) -> None:
        with self._lock:
            self._listeners += 1
        if self._mirror is not None:
            await _count_in(self._mirror.client, self.id, +1)

    async def leave(self) -> None:
        with self._lock:
            self._listeners -= 1
            here = remaining = self._listeners
        if self._mirror is not None:  # listeners in other workers count too
            remaining = await _count_in(self._mirror.client, self.id, -1, fallback=here)
        if remaining <= 0:
            if self.on_abandoned is not None:
                self.on_abandoned()
        elif here <= 0 and self.on_local_empty is not None:
            self.on_local_empty()

    async def listeners(self) -> int:
        """Listeners here and, with Redis, in other workers (asked only when none is here)."""
        if self._listeners > 0 or self._mirror is None:
            return self._listeners
        try:
            return int(await self._mirror.client.get(_subs_key(self.id)) or 0)
        except redis_async.ERRORS:
            return self._listeners

    async def finish(self) -> None:
        """Let the next identical question lead a new flight (listeners keep reading)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        with _registry_lock:
            if _local.get(self.key) is self:
                del _local[self.key]
            _led.pop(self.id, None)
        if self._mirror is not None:
            await self._mirror.drain()  # the stream exists before it is set to expire
            try:
                await self._mirror.client.expire(_stream_key(self.id), KEEP_AFTER_FINISH)
                await _release(self._mirror.client, self.key, self.id)
            except redis_async.ERRORS as exc:
                log.warning("could not release a flight in Redis: %s", exc)


class RemoteFlight:
    """A flight led by another worker, followed through its Redis stream."""

    def __init__(self, client, reader, key: str, flight_id: str):
        self.key, self.id = key, flight_id
        self._client, self._reader = client, reader

    async def listen(self, heartbeat: float) -> AsyncIterator[Event | None]:
        last = "0-0"
        stream = _stream_key(self.id)
        while True:
            reply = await self._reader.xread({stream: last}, block=int(heartbeat * 1000), count=200)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                event = decode(fields[b"k"].decode(), fields[b"d"])
                yield event
                if isinstance(event, TERMINAL):
                    return

    async def join(self) -> None:
        await _count_in(self._client, self.id, +1)

    async def leave(self) -> None:
        await _count_in(self._client, self.id, -1)


async def _count_in(client, flight_id: str, delta: int, fallback: int = 0) -> int:
    """Add `delta` to the flight's listeners in Redis; the new count."""
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incrby(_subs_key(flight_id), delta)
            pipe.expire(_subs_key(flight_id), LOCK_TTL_MS // 1000)
            count, _ = await pipe.execute()
        return int(count)
    except redis_async.ERRORS as exc:
        log.warning("could not count a flight's listeners in Redis: %s", exc)
        return fallback


_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0"
)


async def _release(client, key: str, flight_id: str) -> None:
    await client.eval(_RELEASE, 1, _lock_key(key), flight_id)


AnyFlight = Flight | RemoteFlight

# Flights led in this process: by key without Redis, by id with it (a follower in this
# process listens in memory instead of reading Redis).
_local: dict[str, Flight] = {}
_led: dict[str, Flight] = {}
_registry_lock = threading.Lock()


def _followed(client, flight_id: str, key: str) -> AnyFlight:
    with _registry_lock:
        led = _led.get(flight_id)
    return led or RemoteFlight(client, redis_async.reader(), key, flight_id)


async def current(key: str) -> AnyFlight | None:
    """The flight in progress for `key`, if any."""
    client = redis_async.commands()
    if client is not None:
        try:
            flight_id = await client.get(_lock_key(key))
            return _followed(client, flight_id.decode(), key) if flight_id else None
        except redis_async.ERRORS as exc:
            log.warning("single-flight falls back to this process: %s", exc)
    return _local.get(key)


async def lead_or_follow(key: str) -> tuple[AnyFlight, bool]:
    """(flight, True) when this request leads the flight for `key`, else (flight, False)."""
    client = redis_async.commands()
    if client is not None:
        try:
            for _ in range(3):
                flight_id = uuid.uuid4().hex
                if await client.set(_lock_key(key), flight_id, nx=True, px=LOCK_TTL_MS):
                    flight = Flight(key, flight_id, mirror=_mirrors.get())
                    with _registry_lock:
                        _led[flight_id] = flight
                    return flight, True
                other = await client.get(_lock_key(key))
                if other:
                    return _followed(client, other.decode(), key), False
        except redis_async.ERRORS as exc:
            log.warning("single-flight falls back to this process: %s", exc)
    with _registry_lock:
        flight = _local.get(key)
        if flight is not None:
            return flight, False
        flight = _local[key] = Flight(key)
        return flight, True


def reset() -> None:
    """Forget this process's flights and mirrors (tests)."""
    with _registry_lock:
        _local.clear()
        _led.clear()
    _mirrors.reset()
