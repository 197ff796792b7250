"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (gunicorn), values are shared
across worker processes by prometheus-client's multiprocess mode."""

import glob
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)

REQUESTS = Counter(
    "helpdesk_requests_total", "Questions answered", ["endpoint", "backend", "status"]
)
CACHE_HITS = Counter("helpdesk_cache_hits_total", "Answers served from a cache", ["level"])
WIDGET_HITS_REJECTED = Counter(
    "helpdesk_widget_hits_rejected_total",
    "Widget hits ignored: the answer id was unknown or issued to another visitor",
)
UPSTREAM_LATENCY = Histogram(
    "helpdesk_upstream_latency_seconds", "Model call duration", ["backend"], buckets=_BUCKETS
)
TTFT = Histogram(
    "helpdesk_ttft_seconds", "Time to first token seen by the client", ["backend"], buckets=_BUCKETS
)
LATENCY = Histogram(
    "helpdesk_latency_seconds", "Total answer latency", ["backend"], buckets=_BUCKETS
)
GUARD_REJECTED = Counter(
    "helpdesk_guard_rejected_total",
    "Model answers the grounding guard replaced by the docs answer",
    ["backend"],
)
GUARD_REMOVED = Counter(
    "helpdesk_guard_removed_total", "Spans the grounding guard removed", ["kind"]
)
UPSTREAM_ERRORS = Counter("helpdesk_upstream_errors_total", "Failed model calls", ["backend"])
ADMISSIONS = Counter(
    "helpdesk_admissions_total",
    "Model slot requests: at_once, waited, or sent down the chain (queue_full, wait_too_long,"
    " timed_out)",
    ["result"],
)
UPSTREAM_BUSY = Counter("helpdesk_upstream_busy_total", "Model hosts that said busy", ["backend"])
OPEN_STREAMS = Gauge(
    "helpdesk_open_streams", "Answer streams open now", multiprocess_mode="livesum"
)
STREAMS_REFUSED = Counter(
    "helpdesk_streams_refused_total", "Streams refused with 503 busy (the per-worker cap)"
)
# Fine below 3 s, where a burst's first bytes fall (`make bench`, the load section).
FIRST_BYTE = Histogram(
    "helpdesk_first_byte_seconds",
    "From a request's arrival in ASGI to its first body byte (assistant.web.timing)",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25,
             1.5, 2, 2.5, 3, 4, 6, 10, 30),  # fmt: skip
)
BREAKER_OPEN = Gauge(
    "helpdesk_breaker_open",
    "1 while a backend's breaker is open",
    ["backend"],
    multiprocess_mode="max",
)
# The query log's writer (assistant.querylog.log_writer) while the database can't be written.
QUERYLOG_WAITING = Gauge(
    "helpdesk_querylog_rows_waiting",
    "Query log rows kept in memory because the database could not be written",
    multiprocess_mode="livesum",
)
QUERYLOG_DROPPED = Counter(
    "helpdesk_querylog_rows_dropped_total",
    "Query log rows lost: the oldest waiting past HELP_LOG_MAX_PENDING, unwritten at exit,"
    " or refused by the database",
)


def total(name: str, kind: str) -> float:
    """A counter's or a live-summed gauge's value (`name` as exposed), summed over this
    host's worker processes in multiprocess mode; `kind` is "counter" or "gauge"."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        from prometheus_client import REGISTRY

        return REGISTRY.get_sample_value(name) or 0.0
    pattern = "gauge_livesum_*.db" if kind == "gauge" else "counter_*.db"
    merged = multiprocess.MultiProcessCollector.merge(glob.glob(os.path.join(path, pattern)))
    return sum(s.value for m in merged for s in m.samples if s.name == name)


def render() -> tuple[bytes, str]:
    """The exposition text, merged across processes when in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
