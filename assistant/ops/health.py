"""What the health endpoint reports: each backend with its breaker, the cache, and the query
log rows waiting on the database."""

import time
import uuid

from django.conf import settings
from django.core.cache import cache

from assistant import backends, conf, metrics
from assistant.backends import breaker


def _cache_report() -> dict:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    key = f"assistant:health:{uuid.uuid4().hex}"
    started = time.perf_counter()
    try:
        cache.set(key, 1, 5)
        ok = cache.get(key) == 1
        cache.delete(key)
    except Exception:
        ok = False
    return {"backend": backend, "ok": ok, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _query_log_report() -> dict:
    """Rows this host's workers keep because the database can't be written, and those lost."""
    return {
        "waiting": int(metrics.total("helpdesk_querylog_rows_waiting", "gauge")),
        "dropped": int(metrics.total("helpdesk_querylog_rows_dropped_total", "counter")),
    }


def report() -> dict:
    chain = conf.backends()
    out: dict = {}
    model_ready = False
    for name in chain:
        backend = backends.REGISTRY.get(name)
        if backend is None:
            out[name] = {"configured": False, "error": "unknown backend"}
            continue
        entry = {"configured": backend.configured(), **backend.health()}
        if backend.guarded:
            entry["breaker"] = breaker.state(name)
        out[name] = entry
        if name != "docs" and entry["configured"]:
            states = (
                [entry["breaker"]] if "breaker" in entry else list(entry.get("hosts", {}).values())
            )
            model_ready = model_ready or any(s["state"] != "open" for s in states)
    query_log = _query_log_report()
    return {
        "status": "ok" if model_ready and not query_log["waiting"] else "degraded",
        "can_answer": "docs" in chain or model_ready,
        "backends": out,
        "cache": _cache_report(),
        "query_log": query_log,
    }
