"""Admission to a model host: at most HELP_OLLAMA_PARALLEL generations at once per host, for
every worker and machine, and a bounded queue in front of it.

With Redis the slots are a sorted set per host scored by expiry: a worker that dies loses its
slots after SLOT_TTL (holders refresh them while tokens flow), and a waiter that stops asking
leaves the queue after WAITER_STALE. Without Redis the same rules hold within the process.
Waiters are served in arrival order: a slot goes to a newcomer only when nobody waits.
"""

import asyncio
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from assistant import conf, metrics
from assistant.answering.events import Queued
from assistant.runtime import redis_async

log = logging.getLogger(__name__)

SLOT_TTL = 30.0  # seconds: a slot is refreshed every SLOT_TTL / 3 while its tokens flow
WAITER_STALE = 3.0  # seconds without a poll: the waiter is gone
POLL_SECONDS = 0.1
_PREFIX = "helpdesk:adm:"


class QueueFull(Exception):
    """No slot, and waiting is not worth it: the question goes on down the chain at once."""


@dataclass(frozen=True)
class Attempt:
    acquired: bool
    position: int  # 1 = next in line; 0 = not waiting
    used: int


# KEYS: slots, queue, seen. ARGV: cap, slot ttl, token, queue max, waiter stale, enqueue.
_TRY_ACQUIRE = """
local slots, queue, seen = KEYS[1], KEYS[2], KEYS[3]
local cap, ttl, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local qmax, stale, enqueue = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
for _, w in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', now - stale)) do
  redis.call('ZREM', queue, w)
  redis.call('ZREM', seen, w)
end
local used = redis.call('ZCARD', slots)
local rank = redis.call('ZRANK', queue, token)
local ahead = rank or redis.call('ZCARD', queue)
for _, k in ipairs(KEYS) do redis.call('EXPIRE', k, math.ceil(ttl * 4)) end
if used + ahead < cap then
  redis.call('ZADD', slots, now + ttl, token)
  if rank then
    redis.call('ZREM', queue, token)
    redis.call('ZREM', seen, token)
  end
  return {1, 0, used + 1}
end
if not rank then
  if enqueue == '0' or ahead >= qmax then return {0, 0, used} end
  redis.call('ZADD', queue, now, token)
end
redis.call('ZADD', seen, now, token)
return {0, ahead + 1, used}
"""
_REFRESH = """
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(ARGV[2]), ARGV[1])
"""


def _keys(host: str) -> list[str]:
    return [f"{_PREFIX}{host}:{part}" for part in ("slots", "queue", "seen")]


class _RedisStore:
    def __init__(self, client):
        self.r = client

    async def try_acquire(self, host: str, token: str, enqueue: bool) -> Attempt:
        args = [_cap(), SLOT_TTL, token, int(conf.get("HELP_QUEUE_MAX")), WAITER_STALE]
        got, position, used = await self.r.eval(
            _TRY_ACQUIRE, 3, *_keys(host), *args, "1" if enqueue else "0"
        )
        return Attempt(bool(got), int(position), int(used))

    async def refresh(self, host: str, token: str) -> None:
        await self.r.eval(_REFRESH, 1, _keys(host)[0], token, SLOT_TTL)

    async def release(self, host: str, token: str) -> None:
        slots, queue, seen = _keys(host)
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.zrem(slots, token)
            pipe.zrem(queue, token)
            pipe.zrem(seen, token)
            await pipe.execute()

    async def load(self, host: str) -> int:
        slots, queue, _ = _keys(host)
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.zcard(slots)
            pipe.zcard(queue)
            used, waiting = await pipe.execute()
        return int(used) + int(waiting)


class _LocalStore:
    """The same rules within this process (no Redis)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._slots: dict[str, dict[str, float]] = {}  # host → token → expiry
        self._queue: dict[str, dict[str, list[float]]] = {}  # host → token → [arrival, seen]

    def _clean(self, host: str, now: float) -> tuple[dict, dict]:
        slots = self._slots.setdefault(host, {})
        queue = self._queue.setdefault(host, {})
        for token in [t for t, expiry in slots.items() if expiry <= now]:
            del slots[token]
        for token in [t for t, (_, seen) in queue.items() if seen < now - WAITER_STALE]:
            del queue[token]
        return slots, queue

    async def try_acquire(self, host: str, token: str, enqueue: bool) -> Attempt:
        now = time.monotonic()
        with self._lock:
            slots, queue = self._clean(host, now)
            order = sorted(queue, key=lambda t: (queue[t][0], t))
            rank = order.index(token) if token in queue else None
            ahead = len(order) if rank is None else rank
            if len(slots) + ahead < _cap():
                slots[token] = now + SLOT_TTL
                queue.pop(token, None)
                return Attempt(True, 0, len(slots))
            if rank is None:
                if not enqueue or ahead >= int(conf.get("HELP_QUEUE_MAX")):
                    return Attempt(False, 0, len(slots))
                queue[token] = [now, now]
            queue[token][1] = now
            return Attempt(False, ahead + 1, len(slots))

    async def refresh(self, host: str, token: str) -> None:
        with self._lock:
            if token in self._slots.get(host, {}):
                self._slots[host][token] = time.monotonic() + SLOT_TTL

    async def release(self, host: str, token: str) -> None:
        with self._lock:
            self._slots.get(host, {}).pop(token, None)
            self._queue.get(host, {}).pop(token, None)

    async def load(self, host: str) -> int:
        with self._lock:
            slots, queue = self._clean(host, time.monotonic())
            return len(slots) + len(queue)


_local_store = _LocalStore()


def _store() -> _RedisStore | _LocalStore:
    client = redis_async.commands()
    return _RedisStore(client) if client is not None else _local_store


def _cap() -> int:
    return max(1, int(conf.get("HELP_OLLAMA_PARALLEL")))


# How long a generation takes on each host, as this process has seen them (a moving average):
# what a waiter's wait is estimated from. Unknown until the first one ends.
_generation_seconds: dict[str, float] = {}


def expected_wait(host: str, position: int) -> float | None:
    seconds = _generation_seconds.get(host)
    if seconds is None:
        return None
    return math.ceil(position / _cap()) * seconds


def _record_generation(host: str, seconds: float) -> None:
    old = _generation_seconds.get(host)
    _generation_seconds[host] = seconds if old is None else 0.7 * old + 0.3 * seconds


async def least_loaded(hosts: list[str]) -> list[str]:
    """`hosts`, the least busy first (ties keep their configured order)."""
    if len(hosts) < 2:
        return hosts
    store = _store()
    try:
        loads = [await store.load(h) for h in hosts]
    except redis_async.ERRORS as exc:
        log.warning("could not read the hosts' loads: %s", exc)
        return hosts
    return [h for _, _, h in sorted(zip(loads, range(len(hosts)), hosts, strict=True))]


class Ticket:
    """One question's claim on a host: wait for a slot, hold it while generating, release it.

    `async for queued in ticket.wait(): …` yields a Queued event whenever the position
    changes and returns once the slot is held; it raises QueueFull when the queue is full or
    the wait would pass HELP_QUEUE_WAIT. Always `await ticket.release()` afterwards (it also
    leaves the queue, e.g. when the reader went away while waiting).
    """

    def __init__(self, host: str):
        self.host = host
        self.token = uuid.uuid4().hex
        self._store = _store()
        self._held_since: float | None = None
        self._refreshed = 0.0
        self._queued = False

    async def wait(self) -> AsyncIterator[Queued]:
        max_wait = float(conf.get("HELP_QUEUE_WAIT"))
        deadline = time.monotonic() + max_wait
        position = 0
        while True:
            try:
                attempt = await self._store.try_acquire(self.host, self.token, enqueue=True)
            except redis_async.ERRORS as exc:
                # Redis is gone: this process's own bounds still hold.
                log.warning("admission falls back to this process: %s", exc)
                self._store = _local_store
                continue
            if attempt.acquired:
                self._held_since = self._refreshed = time.monotonic()
                metrics.ADMISSIONS.labels("waited" if self._queued else "at_once").inc()
                self._queued = False
                return
            if not attempt.position:
                metrics.ADMISSIONS.labels("queue_full").inc()
                raise QueueFull(f"{self.host}: the queue is full")
            first, self._queued = not self._queued, True  # (release() leaves the queue)
            expected = expected_wait(self.host, attempt.position)
            if first and expected is not None and expected > max_wait:
                metrics.ADMISSIONS.labels("wait_too_long").inc()
                raise QueueFull(f"{self.host}: about {expected:.0f} s to wait")
            if attempt.position != position:
                position = attempt.position
                yield Queued(position=position, wait_s=round(expected or max_wait, 1))
            if time.monotonic() >= deadline:
                metrics.ADMISSIONS.labels("timed_out").inc()
                raise QueueFull(f"{self.host}: no slot within {max_wait:g} s")
            await asyncio.sleep(POLL_SECONDS)

    async def keep(self) -> None:
        """Tokens are flowing: keep the slot from expiring."""
        now = time.monotonic()
        if self._held_since is not None and now - self._refreshed > SLOT_TTL / 3:
            self._refreshed = now
            try:
                await self._store.refresh(self.host, self.token)
            except redis_async.ERRORS as exc:
                log.warning("could not refresh a model slot: %s", exc)

    async def release(self, completed: bool = False) -> None:
        if completed and self._held_since is not None:
            _record_generation(self.host, time.monotonic() - self._held_since)
        if self._held_since is None and not self._queued:
            return
        self._held_since, self._queued = None, False
        try:
            await self._store.release(self.host, self.token)
        except redis_async.ERRORS as exc:  # the slot expires on its own
            log.warning("could not release a model slot: %s", exc)


def reset() -> None:
    """Forget this process's slots, queue and timings (tests)."""
    global _local_store
    _local_store = _LocalStore()
    _generation_seconds.clear()
