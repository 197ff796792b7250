"""Per-backend (and per-Ollama-host) circuit breakers, shared by all workers through the cache.

Closed: calls go through. After a failure the breaker opens for a cooldown of 30 s, doubling
with each further failure up to 300 s; while open, callers skip the backend without touching
it. When the cooldown ends one worker runs a cheap probe: success lets calls through again
(the next successful call resets the breaker), failure re-opens it for a longer cooldown.
"""

import time
from collections.abc import Callable

from django.core.cache import cache

from . import conf, metrics

_KEY = "assistant:breaker:"
_known: set[str] = set()


def _load(name: str) -> dict:
    return cache.get(_KEY + name) or {"failures": 0, "open_until": 0.0}


def allow(name: str, probe: Callable[[], bool] | None = None) -> bool:
    """May a call to `name` go ahead now?"""
    _known.add(name)
    state = _load(name)
    if not state["failures"]:
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
    _known.add(name)
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
    if _load(name)["failures"]:
        cache.delete(_KEY + name)
    metrics.BREAKER_OPEN.labels(name).set(0)


def state(name: str) -> dict:
    """For the health endpoint: closed, open (with seconds left) or half_open."""
    s = _load(name)
    if not s["failures"]:
        return {"state": "closed", "failures": 0}
    left = s["open_until"] - time.time()
    if left > 0:
        return {"state": "open", "failures": s["failures"], "retry_in": round(left, 1)}
    return {"state": "half_open", "failures": s["failures"]}
