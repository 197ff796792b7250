"""Single-flight edge cases: a dead leader, a crashing producer."""

import time
import uuid

import pytest

from assistant import backends
from assistant.answering import answer_cache, flight, service
from assistant.helpdocs.selectors import audience_for
from assistant.runtime import redis_async
from assistant.web.visitors import Visitor
from tests.conftest import sse_events
from tests.ollama_standin import EXPORT_TOKENS

pytestmark = pytest.mark.django_db

Q = {"question": "export invoices to pdf", "path": "/invoices/"}


def test_waiter_of_a_dead_leader_answers_from_the_docs(ask, demo_docs, ollama, settings, redis_url):
    """A leader in another worker took the lock and died: the waiter does not hang."""
    import redis

    settings.REDIS_URL = redis_url
    settings.HELP_TIMEOUT = 0.3
    settings.HELP_OLLAMA_RETRIES = 2
    settings.HELP_QUEUE_WAIT = 0.2
    redis_async.reset()
    key = answer_cache.cache_key(
        question=Q["question"], path=Q["path"], audience=audience_for(None), language="en"
    )
    client = redis.Redis.from_url(redis_url)
    client.set(flight._lock_key(key), uuid.uuid4().hex, px=60_000)
    try:
        started = time.monotonic()
        r = ask(Q, endpoint="help/stream")
        events = sse_events(r.streamed)
        elapsed = time.monotonic() - started
    finally:
        client.delete(flight._lock_key(key))
        redis_async.reset()
    kinds = [k for k, _ in events if k != "comment"]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    assert events[[k for k, _ in events].index("meta")][1]["backend"] == "docs"
    assert ollama.chat_calls == 0
    assert elapsed < 0.3 * 2 + 0.2 + 1 + 1.5


def test_a_crashing_producer_still_gets_the_user_a_docs_answer(ask, demo_docs, monkeypatch):
    async def crash(prompt):
        raise RuntimeError("bug")
        yield  # pragma: no cover

    monkeypatch.setattr(backends, "generate", crash)
    r = ask(Q)
    assert r.status_code == 200
    assert r.json()["backend"] == "docs" and "Export PDF" in r.json()["answer"]


def test_a_leader_that_fails_before_starting_releases_the_flight(ask, demo_docs, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("could not start the producer")

    monkeypatch.setattr(service, "_start_producer", broken)
    assert ask(Q).status_code == 500  # JSON, from the API error handler
    monkeypatch.undo()
    r = ask(Q)  # the next identical question is not stuck behind a dead flight
    assert r.status_code == 200 and r.json()["backend"] == "docs"
    assert flight._local == {}


def test_without_redis_identical_questions_in_one_process_make_one_model_call(
    demo_docs, ollama, settings
):
    """No REDIS_URL (as under `make run`): the flight is this process's, and still one."""
    import asyncio

    from asgiref.sync import async_to_sync

    settings.REDIS_URL = ""
    redis_async.reset()
    ollama.reset(delay=0.05, tokens=list(EXPORT_TOKENS))

    def question(i: int) -> service.Question:
        return service.Question(
            question=Q["question"], path=Q["path"], hints="", user=None,
            visitor=Visitor(f"reader {i}", (f"reader {i}",), f"reader {i}"), endpoint="help",
            logged=False,
        )

    async def three_readers():
        answers = [await service.ask(question(i)) for i in range(3)]
        return await asyncio.gather(*(answer.collect() for answer in answers))

    bodies = async_to_sync(three_readers)()
    assert ollama.chat_calls == 1
    assert {body["backend"] for body in bodies} == {"ollama"}
    assert len({body["answer"] for body in bodies}) == 1


def test_the_mirror_writes_many_flights_events_in_a_few_round_trips(settings, redis_url):
    """Thirty answers streaming at once in one worker: their events reach Redis (for readers
    in other workers) in a few pipelines, not a round trip per event, each flight's in order."""
    import redis
    from asgiref.sync import async_to_sync

    from assistant.answering.events import Done, Meta, Token, decode

    settings.REDIS_URL = redis_url
    redis_async.reset()
    flight.reset()
    tag = uuid.uuid4().hex
    round_trips: list[int] = []

    async def thirty_flights() -> list[str]:
        led = [(await flight.lead_or_follow(f"{tag}:{i}"))[0] for i in range(30)]
        client = led[0]._mirror.client
        pipeline = client.pipeline

        def counted(*args, **kwargs):
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*a, **kw):
                round_trips.append(len(pipe.command_stack))
                return await execute(*a, **kw)

            pipe.execute = counted_execute
            return pipe

        client.pipeline = counted
        for f in led:
            await f.publish(Meta(backend="ollama", model="m"))
        for f in led:
            await f.publish(Token(f"text of {f.key}"))
        for f in led:
            await f.publish(Done())
        for f in led:
            await f.finish()
        return [f.id for f in led]

    ids = async_to_sync(thirty_flights)()
    try:
        assert 1 <= len(round_trips) <= 4  # 90 events (a round trip each before)
        reader = redis.Redis.from_url(redis_url)
        for i, flight_id in enumerate(ids):
            entries = reader.xrange(flight._stream_key(flight_id))
            events = [decode(fields[b"k"].decode(), fields[b"d"]) for _, fields in entries]
            assert [type(e) for e in events] == [Meta, Token, Done]
            assert events[1].text == f"text of {tag}:{i}"
            assert 0 < reader.ttl(flight._stream_key(flight_id)) <= flight.KEEP_AFTER_FINISH
            assert reader.get(flight._lock_key(f"{tag}:{i}")) is None  # released
    finally:
        redis_async.reset()
        flight.reset()


@pytest.mark.parametrize("with_redis", [True, False])
def test_a_reader_who_joins_a_flight_as_it_is_abandoned_gets_an_answer(
    demo_docs, ollama, settings, redis_url, with_redis
):
    """Stop, then the same question again at once: the new request joined the flight its
    leader had just left, which is then cancelled. It boards a new flight (one more model
    call) and answers; it never shows the reader "cancelled" for a question they just asked."""

    from asgiref.sync import async_to_sync

    from assistant.answering.events import Error, Meta, Token, cancelled

    settings.REDIS_URL = redis_url if with_redis else ""
    redis_async.reset()
    flight.reset()
    ollama.reset(tokens=list(EXPORT_TOKENS))
    key = answer_cache.cache_key(
        question=Q["question"], path=Q["path"], audience=audience_for(None), language="en"
    )
    question = service.Question(
        question=Q["question"], path=Q["path"], hints="", user=None,
        visitor=Visitor("reader", ("reader",), "reader"), endpoint="help", logged=False,
    )  # fmt: skip

    async def scenario() -> list:
        abandoned, leads = await flight.lead_or_follow(key)
        assert leads
        await abandoned.publish(Meta(backend="ollama", model="m"))
        answer = await service.ask(question)  # follows the flight about to be cancelled
        await abandoned.finish()  # what the cancelled producer does (service._produce)
        await abandoned.publish(cancelled("en"))
        return [e async for e in answer.stream() if e is not None]

    events = async_to_sync(scenario)()
    try:
        assert not [e for e in events if isinstance(e, Error)]
        assert sum(isinstance(e, Meta) for e in events) == 1
        assert "".join(e.text for e in events if isinstance(e, Token)).strip()
        assert ollama.chat_calls == 1  # the new flight's
    finally:
        redis_async.reset()
