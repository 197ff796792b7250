"""Answering one question: the server cache, coverage, the rate limit, single-flight and the
backend chain, as one stream of typed events. Its listener (Answer) turns the events the
reader receives into the Outcome, and logs it at the answer's last event."""

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.utils import translation

from assistant import backends, conf, metrics
from assistant.answering import answer_cache, ratelimit
from assistant.answering import flight as flights
from assistant.answering.events import (
    ERROR_STATUS,
    TERMINAL,
    Done,
    Error,
    Event,
    Meta,
    Token,
    cancelled,
    failed,
    interrupted,
    unavailable,
)
from assistant.answering.followups import Resolved, Turn, choose
from assistant.answering.outcome import Outcome
from assistant.answering.prompt import Prompt, build_prompt
from assistant.errors import ApiError
from assistant.helpdocs.selectors import (
    COVERED,
    NONE,
    Retrieval,
    audience_for,
    guess_language,
    helpdoc_retrieve,
)
from assistant.models import CacheLevel, QueryStatus
from assistant.querylog import records as querylog
from assistant.runtime import redis_async

if TYPE_CHECKING:
    from assistant.web.visitors import Visitor

log = logging.getLogger(__name__)

# How often a producer checks that someone still listens once its own process has no reader
# left but other workers have (a reader leaving last in this process stops it at once).
LISTENER_CHECK_SECONDS = 0.25


@dataclass(frozen=True)
class Question:
    question: str
    path: str
    hints: str
    user: Any  # a User or AnonymousUser, already loaded (None: an anonymous task)
    visitor: "Visitor"
    endpoint: str  # "help", "stream" or "prefetch": for the log and the metrics
    language: str = ""
    rate_limited: bool = True  # False for the prefetch task,
    logged: bool = True  # which leaves no trace in the query log either
    history: tuple[str, ...] = ()  # the earlier turns' answer ids, oldest first


class AnswerFailed(ApiError):
    """The JSON endpoint's answer ended in an error event."""

    def __init__(self, error: Error):
        super().__init__(ERROR_STATUS.get(error.code, 502), error.code, error.message)


class Answer:
    """The events one reader receives. `stream()` yields them (None: still waiting, a
    heartbeat), observes each into `outcome`, and logs the outcome once: at `done` or `error`,
    before the reader receives it, or when the reader leaves before either."""

    def __init__(self, outcome: Outcome, question: Question, events: AsyncIterator[Event | None]):
        self.outcome = outcome
        self._question = question
        self._events = events

    async def stream(self) -> AsyncIterator[Event | None]:
        unlogged = self._question.logged
        try:
            async with aclosing(self._events) as events:
                async for event in events:
                    if event is not None:
                        self.outcome.observe(event)
                        if unlogged and isinstance(event, TERMINAL):
                            # Logged before the reader sees the end: a vote on this answer,
                            # or a replay of it from the widget's cache, may follow at once.
                            unlogged = False
                            await _record(self.outcome, self._question.endpoint)
                    yield event
        finally:
            if unlogged:  # the reader left first
                await _record(self.outcome, self._question.endpoint)

    async def collect(self) -> dict:
        """The whole answer, as the JSON endpoint's body; raises AnswerFailed."""
        async with aclosing(self.stream()) as events:
            async for event in events:
                if isinstance(event, Error):
                    raise AnswerFailed(event)
        return self.outcome.body()


async def _record(outcome: Outcome, endpoint: str) -> None:
    await querylog.arecord_outcome(outcome, endpoint)


_cache_get = sync_to_async(answer_cache.get, thread_sensitive=False)
_cache_put = sync_to_async(answer_cache.put, thread_sensitive=False)


@dataclass
class _Plan:
    key: str
    hit: dict | None
    prompt: Prompt | None
    resolved: Resolved


def _earlier(q: Question) -> Turn | None:
    """The server's own record of the latest earlier turn (never the client's text)."""
    turns = querylog.turns_of(answer_ids=q.history, visitor_ids=q.visitor.ids) if q.history else []
    return Turn(*turns[-1]) if turns else None


def _plan(q: Question, audience: str, language: str) -> _Plan:
    """The sync part, in one hop to a thread: the follow-up resolved (after an earlier turn,
    its readings ranked on the docs' evidence), the cache key and lookup (of the standalone
    question: a follow-up resolving to an answered question is a hit), then the prompt (its
    retrieval decides coverage)."""

    def retrieve(question: str, prior: tuple[str, ...]) -> Retrieval:
        return helpdoc_retrieve(
            query=question, path=q.path, audience=audience, language=language, prior=prior
        )

    earlier = _earlier(q)
    retrieval = None
    if earlier is None:
        resolved = Resolved(q.question, False)
    else:
        resolved, retrieval = choose(q.question, earlier, retrieve)
    key = answer_cache.cache_key(
        question=resolved.question, path=q.path, audience=audience, language=language
    )
    hit = answer_cache.get(key)
    if hit:
        return _Plan(key, hit, None, resolved)
    if retrieval is None:
        retrieval = retrieve(resolved.question, resolved.prior_sections)
    prompt = build_prompt(
        question=resolved.question,
        path=q.path,
        hints=q.hints,
        retrieval=retrieval,
        language=language,
        earlier=earlier if resolved.follow_up else None,
    )
    return _Plan(key, None, prompt, resolved)


async def ask(q: Question) -> Answer:
    """The answer to `q`: from the server cache, from the flight of an identical question in
    progress, or from a new flight through the backend chain. Raises RateLimited (logged)
    before any event when this visitor has used up their model calls."""
    audience = audience_for(q.user)
    language = q.language or guess_language(q.question)
    outcome = Outcome(
        id=str(uuid.uuid4()),
        question=q.question,
        path=q.path[:500],
        audience=audience,
        visitor=q.visitor.id,
        resolved=q.question,
    )

    def answer(events: AsyncIterator[Event | None]) -> Answer:
        return Answer(outcome, q, events)

    plan = await sync_to_async(_plan)(q, audience, language)
    outcome.resolved, outcome.follow_up = plan.resolved.question, plan.resolved.follow_up
    if plan.hit:
        return answer(_from_cache(plan.hit))
    prompt = plan.prompt
    # Coverage is decided before any model call: the docs' silence is answered at once
    # (`maybe` goes on: a model decides from the best sections, or the docs answer hedges).
    if prompt.coverage == NONE:
        return answer(backends.docs_answer(prompt))

    flight = await flights.current(plan.key)
    if flight is None and q.rate_limited:
        try:
            with translation.override(language):
                await sync_to_async(ratelimit.check)(q.visitor.limit_key)
        except ratelimit.RateLimited:
            outcome.status = QueryStatus.RATE_LIMITED
            await _record(outcome, q.endpoint)
            raise
    if flight is None:
        flight, leader = await flights.lead_or_follow(plan.key)
    else:
        leader = False
    return answer(await _board(flight, leader, plan.key, prompt))


async def _board(
    flight: flights.AnyFlight, leader: bool, key: str, prompt: Prompt, retry: bool = True
) -> AsyncIterator[Event | None]:
    """A reader's events on `flight`: its leader starts the producer, unless another worker
    has cached the answer just now."""
    if leader:
        try:
            hit = await _cache_get(key)  # another worker may have finished just now
            if hit:
                await flight.finish()
                return _from_cache(hit)
            await flight.join()  # before the producer starts, so it never sees zero listeners
            _start_producer(flight, key, prompt)
        except BaseException:
            # Release the flight, or identical questions would wait on it for nothing.
            await flight.publish(failed(prompt.language))
            await flight.finish()
            raise
    else:
        await flight.join()

    async def again() -> AsyncIterator[Event | None]:
        return await _board(*await flights.lead_or_follow(key), key, prompt, retry=False)

    return _follow(flight, leader, prompt, again if retry else None)


def cached_coverage(hit: dict) -> str:
    """A cached answer's coverage; an entry cached before coverage was (without the field)
    reads it from its `covered`."""
    return hit.get("coverage") or (COVERED if hit.get("covered", True) else NONE)


async def _from_cache(hit: dict) -> AsyncIterator[Event]:
    metrics.CACHE_HITS.labels("server").inc()
    yield Meta(
        backend=hit["backend"],
        model=hit["model"],
        sources=hit["sources"],
        doc_ids=hit.get("doc_ids", []),
        coverage=cached_coverage(hit),
        cache_level=CacheLevel.SERVER,
    )
    yield Token(hit["answer"])
    yield Done()


# Producers run as tasks of the loop; kept here so they are not collected mid-answer.
_producers: set[asyncio.Task] = set()


def _start_producer(flight: flights.Flight, key: str, prompt: Prompt) -> None:
    loop = asyncio.get_running_loop()
    task = loop.create_task(_produce(flight, key, prompt), name="assistant-producer")
    _producers.add(task)
    task.add_done_callback(_producers.discard)
    # The last reader may leave from another loop (tests, Celery): cancel through ours.
    flight.on_abandoned = lambda: loop.call_soon_threadsafe(task.cancel)
    # Readers here all gone, some in other workers still there: watch them leave.
    flight.on_local_empty = lambda: loop.call_soon_threadsafe(_watch, flight, task)


def _watch(flight: flights.Flight, producer: asyncio.Task) -> None:
    if not producer.done():
        watchdog = asyncio.get_running_loop().create_task(
            _cancel_when_nobody_listens(flight, producer)
        )
        _producers.add(watchdog)
        watchdog.add_done_callback(_producers.discard)
        producer.add_done_callback(lambda _: watchdog.cancel())


async def _produce(flight: flights.Flight, key: str, prompt: Prompt) -> None:
    """The leader's producer: runs the chain and publishes every event to the flight. It is
    cancelled once nobody listens, which closes the model's connection (stopping it)."""
    meta: Meta | None = None
    text: list[str] = []
    try:
        async with aclosing(backends.generate(prompt)) as events:
            async for event in events:
                if isinstance(event, Meta):
                    meta = event
                elif isinstance(event, Token):
                    text.append(event.text)
                elif isinstance(event, Done) and meta is not None:
                    await _cache_put(
                        key,
                        {
                            "answer": "".join(text),
                            "sources": meta.sources,
                            "doc_ids": meta.doc_ids,
                            "covered": meta.covered,
                            "coverage": meta.coverage,
                            "backend": meta.backend,
                            "model": meta.model,
                        },
                    )
                    await flight.finish()  # the next identical question reads the cache
                await flight.publish(event)
    except asyncio.CancelledError:
        # Released first: a reader who joined as its readers left boards a new flight on
        # this event (`_follow`), not this one again.
        await flight.finish()
        await flight.publish(cancelled(prompt.language))
    except Exception:
        log.exception("answer producer failed")
        await flight.publish(failed(prompt.language))
    finally:
        await flight.finish()


async def _cancel_when_nobody_listens(flight: flights.Flight, producer: asyncio.Task) -> None:
    while True:
        await asyncio.sleep(LISTENER_CHECK_SECONDS)
        if await flight.listeners() <= 0:
            producer.cancel()
            return


async def _follow(
    flight: flights.AnyFlight,
    leader: bool,
    prompt: Prompt,
    again: Callable[[], Awaitable[AsyncIterator[Event | None]]] | None = None,
) -> AsyncIterator:
    """One reader's events from the flight. A follower whose leader fails or stalls before
    any token answers from the docs itself instead of hanging; one who joined a flight its
    readers had just left (cancelled: the leader pressed Stop) boards a new one (`again`)."""
    heartbeat = float(conf.get("SSE_HEARTBEAT_SECONDS"))
    # A leader in another process may die: give up on it after one full upstream attempt
    # (and the longest wait for a model slot).
    stall = (
        float(conf.get("HELP_TIMEOUT")) * max(1, int(conf.get("HELP_OLLAMA_RETRIES")))
        + float(conf.get("HELP_QUEUE_WAIT"))
        + 1
    )
    last = time.monotonic()
    sent = met = abandoned = False
    try:
        async with aclosing(flight.listen(min(heartbeat, stall))) as events:
            async for event in events:
                now = time.monotonic()
                if event is None:
                    if not leader and now - last > stall:
                        break
                    if not sent:
                        yield None
                    continue
                last = now
                if isinstance(event, Meta):
                    met = True
                    if not leader:
                        event = dataclasses.replace(event, cache_level=CacheLevel.SINGLE_FLIGHT)
                elif isinstance(event, Token):
                    sent = True
                elif isinstance(event, Done) and not leader:
                    metrics.CACHE_HITS.labels("single_flight").inc()
                elif isinstance(event, Error) and not sent and event.code == "cancelled":
                    abandoned = not leader and again is not None
                    if abandoned:
                        break
                elif isinstance(event, Error) and not sent:
                    break  # nothing reached the reader: answer from the docs below
                yield event
                if isinstance(event, TERMINAL):
                    return
    except redis_async.ERRORS as exc:
        log.warning("single-flight follow failed: %s", exc)
    finally:
        try:
            await flight.leave()
        except redis_async.ERRORS:
            log.warning("could not leave the flight")
    if abandoned:
        async with aclosing(await again()) as events:
            async for event in events:
                if not (met and isinstance(event, Meta)):  # the reader has had one
                    yield event
        return
    if sent:
        yield interrupted(prompt.language)
        return
    if "docs" not in conf.backends():
        yield unavailable(prompt.language)
        return
    async for event in backends.docs_answer(prompt):
        yield event


async def answer_now(q: Question) -> dict:
    """The whole answer as the JSON endpoint's body (for sync callers through async_to_sync,
    e.g. the prefetch task); raises AnswerFailed or RateLimited."""
    return await (await ask(q)).collect()
