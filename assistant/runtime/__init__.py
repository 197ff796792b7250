"""Per-event-loop resources (aio) and the asyncio Redis clients (redis_async)."""
