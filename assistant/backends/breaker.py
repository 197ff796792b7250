"""Per-backend (and per-Ollama-host) circuit breakers, shared by all workers through the cache.

Closed: calls go through. After a failure the breaker opens for a cooldown of 30 s, doubling
with each further failure up to 300 s; while open, callers skip the backend without touching
it. When the cooldown ends one worker runs a cheap probe: success lets calls through again
(the next successful call resets the breaker), failure re-opens it for a longer cooldown.

A worker that read a breaker closed trusts that for CLOSED_MEMO_SECONDS without asking the
cache again: under load every question would otherwise cost a cache round trip in a thread
before its model call. A breaker another worker opens is seen that much later at most.
"""

import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.core.cache import cache

from assistant import conf, metrics

_KEY = "assistant:breaker:"
CLOSED_MEMO_SECONDS = 1.0
_closed_seen: dict[str, float] = {}  # name → when this process last read it closed


def known_closed(name: str) -> bool:
    seen = _closed_seen.get(name)
    return seen is not None and 0 <= time.time() - seen < CLOSED_MEMO_SECONDS


def _load(name: str) -> dict:
    return cache.get(_KEY + name) or {"failures": 0, "open_until": 0.0}


def allow(name: str, probe: Callable[[], bool] | None = None) -> bool:
    """May a call to `name` go ahead now?"""
    if known_closed(name):
        return True
    state = _load(name)
    if not state["failures"]:
        _closed_seen[name] = time.time()
        return True
    if time.time() < state["open_until"]:
        return False
    # Cooldown over: one worker probes, the others keep skipping until it has decided.
    if not cache.add(_KEY + name + ":probe", 1, 10):
        return False
    try:
        ok = probe() if probe else True
    except Exception:
        ok = False
    finally:
        cache.delete(_KEY + name + ":probe")
    if not ok:
        failure(name)
    return ok


def failure(name: str) -> None:
    _closed_seen.pop(name, None)
    state = _load(name)
    failures = state["failures"] + 1
    cooldown = min(
        float(conf.get("BREAKER_BASE_COOLDOWN")) * 2 ** (failures - 1),
        float(conf.get("BREAKER_MAX_COOLDOWN")),
    )
    cache.set(
        _KEY + name,
        {"failures": failures, "open_until": time.time() + cooldown},
        timeout=int(conf.get("BREAKER_MAX_COOLDOWN")) * 4,
    )
    metrics.BREAKER_OPEN.labels(name).set(1)


def success(name: str) -> None:
    if not known_closed(name):
        if _load(name)["failures"]:
            cache.delete(_KEY + name)
        _closed_seen[name] = time.time()
    metrics.BREAKER_OPEN.labels(name).set(0)


# For the answering path (async): the cache is only asked, in a thread, when this process has
# not read the breaker closed within CLOSED_MEMO_SECONDS.
_allow_in_thread = sync_to_async(allow, thread_sensitive=False)
_success_in_thread = sync_to_async(success, thread_sensitive=False)
afailure = sync_to_async(failure, thread_sensitive=False)


async def aallow(name: str, probe: Callable[[], bool] | None = None) -> bool:
    return True if known_closed(name) else await _allow_in_thread(name, probe)


async def asuccess(name: str) -> None:
    if known_closed(name):
        metrics.BREAKER_OPEN.labels(name).set(0)
    else:
        await _success_in_thread(name)


def forget_memo() -> None:
    """Forget what this process read (tests)."""
    _closed_seen.clear()


def state(name: str) -> dict:
    """For the health endpoint: closed, open (with seconds left) or half_open."""
    s = _load(name)
    if not s["failures"]:
        return {"state": "closed", "failures": 0}
    left = s["open_until"] - time.time()
    if left > 0:
        return {"state": "open", "failures": s["failures"], "retry_in": round(left, 1)}
    return {"state": "half_open", "failures": s["failures"]}
