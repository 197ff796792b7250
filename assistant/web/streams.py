"""The cap on answer streams open at once in this worker (HELP_MAX_STREAMS): past it a reader
gets a JSON 503 `busy` with Retry-After at once, instead of a worker that runs out of memory or
file descriptors and fails everyone."""

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.utils.translation import gettext

from assistant import conf, metrics
from assistant.errors import ApiError

RETRY_AFTER_SECONDS = 5

_open = 0
_lock = threading.Lock()


class Busy(ApiError):
    def __init__(self):
        super().__init__(
            503,
            "busy",
            gettext("Too many answers are streaming right now; try again in a few seconds."),
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def check() -> None:
    """Raise Busy when this worker already streams HELP_MAX_STREAMS answers."""
    if _open >= int(conf.get("HELP_MAX_STREAMS")):
        metrics.STREAMS_REFUSED.inc()
        raise Busy()


@asynccontextmanager
async def counted() -> AsyncIterator[None]:
    """Count a stream while its body is being sent (entered by the body itself, so a body
    that never starts, its client gone, is never counted)."""
    global _open
    with _lock:
        _open += 1
    metrics.OPEN_STREAMS.inc()
    try:
        yield
    finally:
        with _lock:
            _open -= 1
        metrics.OPEN_STREAMS.dec()
