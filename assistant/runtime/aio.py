"""Clients bound to an event loop (redis.asyncio) made once per loop, on first use;
and a long response's release of the thread Django keeps for its request.

A worker of the ASGI server has one loop for its life. Celery tasks and the tests run each
answer in a loop of its own (asgiref's async_to_sync), where a client of another loop would
fail: hence one per loop, forgotten with its loop.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from asgiref.sync import SyncToAsync
from django.db import connections

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One value per event loop, made on first use. A closed loop's value is forgotten when
    the next one is made (`on_forget` called on it first). Not a WeakKeyDictionary: clients
    refer to their loop, so no loop would ever be collected and each short-lived loop (a
    Celery task's) would leak with its clients."""

    def __init__(self, factory: Callable[[], T], on_forget: Callable[[T], object] | None = None):
        self._factory = factory
        self._on_forget = on_forget
        self._by_loop: dict[asyncio.AbstractEventLoop, T] = {}
        self._lock = threading.Lock()  # loops of several threads (asgiref's, Celery's)

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            with self._lock:
                closed = [old for old in self._by_loop if old.is_closed()]
                forgotten = [self._by_loop.pop(old) for old in closed]
                value = self._by_loop[loop] = self._factory()
            for old_value in forgotten:
                if self._on_forget is not None:
                    self._on_forget(old_value)
        return value

    def reset(self) -> None:
        """Forget every loop's client (after a settings change, in tests)."""
        with self._lock:
            forgotten, self._by_loop = list(self._by_loop.values()), {}
        for value in forgotten:
            if self._on_forget is not None:
                self._on_forget(value)


def release_request_thread() -> None:
    """Let go of the thread Django keeps for this request's sync work, before a long response
    streams. asgiref starts that thread on the request's first thread-sensitive call (Django's
    own request_started receivers make one) and keeps it, idle, until the request ends: every
    open stream would hold a thread (about 20 KB each, and a thread per reader is what ASGI
    serving is meant to avoid). A later sync call of the same request (the query log at the
    end) starts a new thread for its moment.

    The thread first closes the database connections it opened: Django closes a request's
    connections in whichever thread runs its request_finished receivers, not in this one.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)  # the thread ends once that is done; nothing waits here
