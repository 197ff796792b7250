"""Clients bound to an event loop (redis.asyncio, httpx) made once per loop, on first use.

A worker of the ASGI server has one loop for its life. Celery tasks and the tests run each
answer in a loop of its own (asgiref's async_to_sync), where a client of another loop would
fail: hence one per loop, forgotten with its loop.
"""

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            value = self._by_loop[loop] = self._factory()
        return value

    def reset(self) -> None:
        """Forget every loop's client (after a settings change, in tests)."""
        self._by_loop.clear()
