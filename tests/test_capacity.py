"""Admission to a model host (slots and queue, in Redis and in-process) and busy hosts."""

import pytest
from asgiref.sync import async_to_sync

from assistant.answering import admission
from assistant.answering.events import Queued
from assistant.backends import breaker
from assistant.runtime import redis_async
from tests.ollama_standin import OllamaStandIn

HOST = "http://model.test:11434"


@pytest.fixture(params=["redis", "local"])
def store(request, settings, redis_url):
    """Each test runs against the Redis store and the in-process one."""
    settings.REDIS_URL = redis_url if request.param == "redis" else ""
    redis_async.reset()
    settings.HELP_OLLAMA_PARALLEL = 2
    settings.HELP_QUEUE_MAX = 2
    settings.HELP_QUEUE_WAIT = 0.3
    yield request.param
    redis_async.reset()


def _run(coroutine_function):
    return async_to_sync(coroutine_function)()


async def _admit(ticket: admission.Ticket) -> list[Queued]:
    return [queued async for queued in ticket.wait()]


def test_two_slots_then_the_queue_then_down_the_chain(store):
    async def scenario():
        holders = [admission.Ticket(HOST) for _ in range(2)]
        for ticket in holders:
            assert await _admit(ticket) == []  # a free slot: no wait
        waiters = [admission.Ticket(HOST) for _ in range(3)]
        outcomes = []
        for ticket in waiters:
            try:
                await _admit(ticket)
                outcomes.append("admitted")
            except admission.QueueFull as exc:
                outcomes.append(str(exc).split(": ", 1)[1])
        for ticket in holders + waiters:
            await ticket.release()
        return outcomes

    # The first two waited HELP_QUEUE_WAIT in vain; the third found the queue full at once.
    assert _run(scenario) == [
        "no slot within 0.3 s",
        "no slot within 0.3 s",
        "the queue is full",
    ]


def test_a_released_slot_goes_to_the_first_waiter(store, settings):
    settings.HELP_QUEUE_WAIT = 5

    async def scenario():
        import asyncio

        holders = [admission.Ticket(HOST) for _ in range(2)]
        for ticket in holders:
            await _admit(ticket)
        first, second = admission.Ticket(HOST), admission.Ticket(HOST)
        seen: dict[str, list] = {"first": [], "second": []}

        async def wait(name, ticket):
            async for queued in ticket.wait():
                seen[name].append(queued.position)
            seen[name].append("slot")

        tasks = [asyncio.create_task(wait("first", first))]
        await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(wait("second", second)))
        await asyncio.sleep(0.3)
        await holders[0].release()
        await asyncio.wait_for(tasks[0], 2)
        assert not tasks[1].done()  # still one slot taken by holders[1], one by first
        await holders[1].release()
        await asyncio.wait_for(tasks[1], 2)
        for ticket in (first, second):
            await ticket.release()
        return seen

    seen = _run(scenario)
    assert seen["first"] == [1, "slot"]
    assert seen["second"][0] == 2 and seen["second"][-1] == "slot"


def test_a_dead_workers_slot_expires(store, monkeypatch):
    monkeypatch.setattr(admission, "SLOT_TTL", 0.2)

    async def scenario():
        for _ in range(2):
            await _admit(admission.Ticket(HOST))  # held, never released: their worker died
        import asyncio

        await asyncio.sleep(0.3)
        late = admission.Ticket(HOST)
        queued = await _admit(late)
        await late.release()
        return queued

    assert _run(scenario) == []


def test_a_known_long_wait_goes_down_the_chain_without_queueing(store, settings):
    settings.HELP_QUEUE_WAIT = 8
    admission._record_generation(HOST, 10.0)  # answers take 10 s here

    async def scenario():
        holders = [admission.Ticket(HOST) for _ in range(2)]
        for ticket in holders:
            await _admit(ticket)
        try:
            with pytest.raises(admission.QueueFull, match="about 10 s to wait"):
                await _admit(admission.Ticket(HOST))
        finally:
            for ticket in holders:
                await ticket.release()

    _run(scenario)


def test_hosts_are_tried_least_loaded_first(store):
    other = "http://other.test:11434"

    async def scenario():
        busy = admission.Ticket(HOST)
        await _admit(busy)
        order = await admission.least_loaded([HOST, other])
        await busy.release()
        return order, await admission.least_loaded([HOST, other])

    assert _run(scenario) == ([other, HOST], [HOST, other])


@pytest.mark.django_db
def test_a_503_moves_to_the_next_host_and_leaves_its_breaker_closed(ask, ollama, settings):
    busy = OllamaStandIn().start()
    try:
        busy.reset(mode="busy503")
        settings.OLLAMA_URL = f"{busy.url},{ollama.url}"
        body = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
        assert body["backend"] == "ollama" and "New client" in body["answer"]
        assert busy.chat_calls == 1 and ollama.chat_calls == 1
        assert breaker.state(f"ollama:{busy.url}")["state"] == "closed"
    finally:
        busy.close()


@pytest.mark.django_db
def test_every_host_busy_is_answered_from_the_docs_without_opening_a_breaker(
    ask, ollama, settings
):
    ollama.reset(mode="busy503")
    body = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
    assert body["backend"] == "docs"
    assert breaker.state(f"ollama:{ollama.url}")["state"] == "closed"


@pytest.mark.django_db
def test_past_the_open_stream_cap_the_stream_endpoint_answers_503_busy(ask, demo_docs, settings):
    settings.HELP_MAX_STREAMS = 0
    r = ask({"question": "How do I add a new customer?"}, endpoint="help/stream")
    assert r.status_code == 503 and r["Retry-After"] == "5"
    assert r.json() == {
        "error": {
            "code": "busy",
            "message": "Too many answers are streaming right now; try again in a few seconds.",
        }
    }
    assert ask({"question": "How do I add a new customer?"}).status_code == 200  # JSON: no cap
