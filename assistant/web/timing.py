"""The server's side of a first byte: from a request's arrival in ASGI to the first byte of
its body handed to the server (helpdesk_first_byte_seconds, per endpoint). Set beside what a
client measures, it tells the time spent before ASGI (the accept queue, a busy event loop)
from the time the app takes."""

import time
from collections.abc import Awaitable, Callable
from functools import cache

from assistant import metrics

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


@cache
def _endpoints() -> dict[str, str]:
    from django.urls import reverse

    return {reverse("assistant:help-stream"): "stream", reverse("assistant:help"): "help"}


def endpoint_of(path: str) -> str:
    """The label: the two answer endpoints by name, anything else as "other" (a bounded set)."""
    return _endpoints().get(path, "other")


def first_byte_timer(app: ASGIApp) -> ASGIApp:
    """`app`, its HTTP requests timed to their first body byte."""

    async def timed(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        arrived = time.perf_counter()
        pending = True

        async def send_timed(message: dict) -> None:
            nonlocal pending
            if pending and message["type"] == "http.response.body" and message.get("body"):
                pending = False
                elapsed = time.perf_counter() - arrived
                metrics.FIRST_BYTE.labels(endpoint_of(scope["path"])).observe(elapsed)
            await send(message)

        await app(scope, receive, send_timed)

    return timed
