"""Writes: answering a question (cache, single-flight, backend chain) and recording it."""

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from . import answer_cache, backends, conf, log_writer, metrics, ratelimit, singleflight
from .backends.docs import DocsBackend
from .models import CacheLevel, QueryLog, QueryStatus
from .prompt import Prompt, build_prompt
from .selectors import audience_for, guess_language, helpdoc_retrieve
from .text import normalise_question

log = logging.getLogger(__name__)

Event = tuple[str, Any]


@dataclass
class Outcome:
    """What happened to one question: fills in as its events go out; then logged."""

    id: str
    question: str
    path: str
    audience: str
    visitor: str
    started: float = field(default_factory=time.perf_counter)
    backend: str = ""
    model: str = ""
    cache_level: str = CacheLevel.NONE
    status: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    prompt_chars: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    doc_ids: list = field(default_factory=list)
    doc_matched: bool | None = None
    covered: bool = True
    guard_removed: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    text: list = field(default_factory=list)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)


@dataclass
class Reply:
    outcome: Outcome
    events: Iterator[Event]


def visitor_of(user, client_ip: str) -> str:
    """Who asks, for rate limits and votes: the user, or the IP of an anonymous reader."""
    ident = f"u:{user.pk}" if user is not None and user.is_authenticated else f"ip:{client_ip}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def client_ip(meta: dict) -> str:
    """REMOTE_ADDR, or behind HELP_TRUSTED_PROXY_HOPS proxies the address the outermost of
    them saw (X-Forwarded-For is only trusted that far: the rest is the client's to forge)."""
    hops = int(conf.get("HELP_TRUSTED_PROXY_HOPS"))
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return meta.get("REMOTE_ADDR", "")


def _prompt_for(question: str, path: str, hints: str, audience: str, language: str) -> Prompt:
    retrieval = helpdoc_retrieve(query=question, path=path, audience=audience, language=language)
    return build_prompt(
        question=question, path=path, hints=hints, retrieval=retrieval, language=language
    )


def answer_question_stream(
    *,
    question: str,
    path: str,
    hints: str,
    user,
    visitor: str,
    language: str = "",
    rate_limit: bool = True,
) -> Reply:
    """The answer to `question` as events: meta, token…, done (or error).

    Served from the server cache, or by following the flight of an identical question
    in progress, or by leading a new flight through the backend chain. Raises
    RateLimited, before any event, when this visitor has used up their model calls.
    """
    audience = audience_for(user)
    language = language or guess_language(question)
    outcome = Outcome(
        id=str(uuid.uuid4()),
        question=normalise_question(question)[:500],
        path=path[:500],
        audience=audience,
        visitor=visitor,
    )
    key = answer_cache.cache_key(question=question, path=path, audience=audience, language=language)
    hit = answer_cache.get(key)
    if hit:
        return Reply(outcome, _from_cache(outcome, hit))

    # Coverage is decided before any model call: the docs' silence is answered at once.
    prompt = _prompt_for(question, path, hints, audience, language)
    if not prompt.covered:
        return Reply(outcome, _docs_fallback(outcome, prompt))  # "not covered", with near matches

    flight = singleflight.current(key)
    leader = False
    if flight is None and rate_limit:
        try:
            ratelimit.check(visitor)
        except ratelimit.RateLimited as exc:
            outcome.status = QueryStatus.RATE_LIMITED
            exc.outcome = outcome  # so the view can still log the refused question
            raise
    if flight is None:
        flight, leader = singleflight.lead_or_follow(key)
    if leader:
        hit = answer_cache.get(key)  # another worker may have finished just now
        if hit:
            flight.finish()
            return Reply(outcome, _from_cache(outcome, hit))
        try:
            outcome.prompt_chars = prompt.chars
            flight.join()  # before the producer starts, so it never sees zero listeners
            threading.Thread(
                target=_produce, args=(flight, key, prompt), daemon=True, name="assistant-producer"
            ).start()
        except Exception:
            # Release the flight, or identical questions would wait on it for nothing.
            flight.publish("error", {"code": "internal", "message": "The answer failed."})
            flight.finish()
            raise
    else:
        flight.join()
        outcome.cache_level = CacheLevel.SINGLE_FLIGHT

    return Reply(outcome, _follow(flight, outcome, leader, prompt))


def _from_cache(outcome: Outcome, hit: dict) -> Iterator[Event]:
    outcome.cache_level = CacheLevel.SERVER
    outcome.backend, outcome.model = hit["backend"], hit["model"]
    outcome.sources, outcome.doc_ids = hit["sources"], hit.get("doc_ids", [])
    outcome.doc_matched = outcome.covered = hit.get("covered", True)
    metrics.CACHE_HITS.labels("server").inc()
    yield "meta", _meta(outcome, cached=True)
    outcome.ttft_ms = outcome.elapsed_ms()
    outcome.text.append(hit["answer"])
    yield "token", {"text": hit["answer"]}
    yield "done", _done(outcome, _status_of(outcome))


def _meta(outcome: Outcome, cached: bool) -> dict:
    return {
        "id": outcome.id,
        "sources": outcome.sources,
        "cached": cached,
        "backend": outcome.backend,
        "model": outcome.model,
        "covered": outcome.covered,
    }


def _status_of(outcome: Outcome) -> str:
    if not outcome.covered:
        return QueryStatus.NOT_COVERED
    return QueryStatus.FALLBACK if outcome.backend == "docs" else QueryStatus.OK


def _done(outcome: Outcome, status: str) -> dict:
    outcome.status = status
    outcome.latency_ms = outcome.elapsed_ms()
    return {"id": outcome.id, "latency_ms": outcome.latency_ms, "ttft_ms": outcome.ttft_ms}


def _produce(flight: singleflight.Flight, key: str, prompt: Prompt) -> None:
    """The leader's producer thread: runs the chain and publishes every event to the flight.

    It stops the generation (closing the upstream connection) once nobody listens.
    """
    cancel = threading.Event()
    finished = threading.Event()
    threading.Thread(
        target=_stop_when_nobody_listens,
        args=(flight, cancel, finished),
        daemon=True,
        name="assistant-listener-watch",
    ).start()
    text: list[str] = []
    start: dict = {}
    try:
        for kind, data in backends.generate(prompt, cancel):
            if kind == "start":
                start = data = {**data, "sources": prompt.sources}
            elif kind == "token":
                text.append(data["text"])
            elif kind == "end":
                answer_cache.put(
                    key,
                    {
                        "answer": "".join(text),
                        "sources": prompt.sources,
                        "doc_ids": prompt.doc_ids,
                        "covered": prompt.covered,
                        "backend": start["backend"],
                        "model": start["model"],
                    },
                )
                kind, data = (
                    "done",
                    {
                        "usage": data["usage"],
                        "guard": data.get("guard") or {},
                        "doc_ids": prompt.doc_ids,
                        "covered": prompt.covered,
                        "prompt_chars": prompt.chars,
                    },
                )
            flight.publish(kind, data)
    except Exception:
        log.exception("answer producer failed")
        try:
            flight.publish("error", {"code": "internal", "message": "The answer failed."})
        except Exception:
            log.exception("could not report the failure to the flight")
    finally:
        finished.set()
        try:
            flight.finish()
        except Exception:
            log.exception("could not finish the flight")


# How often a producer checks that someone still listens: the guard releases text a sentence
# at a time, so this must not wait for the next event.
LISTENER_CHECK_SECONDS = 0.25


def _stop_when_nobody_listens(
    flight: singleflight.Flight, cancel: threading.Event, finished: threading.Event
) -> None:
    """Stop the generation (the backends close the upstream connection) once every reader
    has gone."""
    while not finished.wait(LISTENER_CHECK_SECONDS):
        try:
            if flight.listeners() <= 0:
                cancel.set()
                return
        except Exception as exc:  # a Redis blip: check again next time
            log.warning("could not count the flight's listeners: %s", exc)


def _follow(
    flight: singleflight.Flight, outcome: Outcome, leader: bool, prompt: Prompt
) -> Iterator[Event]:
    """One listener's events. A waiter whose leader fails or stalls before any token
    answers from the docs itself instead of hanging."""
    heartbeat = float(conf.get("SSE_HEARTBEAT_SECONDS"))
    # A leader in another process may die: give up on it after one full upstream attempt.
    stall = float(conf.get("HELP_TIMEOUT")) * max(1, int(conf.get("HELP_OLLAMA_RETRIES"))) + 1
    last = time.monotonic()
    sent = False
    try:
        for event in flight.listen(min(heartbeat, stall)):
            now = time.monotonic()
            if event is None:
                if not leader and now - last > stall:
                    break
                if not sent:
                    yield "ping", None
                continue
            last = now
            kind, data = event
            if kind == "start":
                outcome.backend, outcome.model = data["backend"], data["model"]
                outcome.sources = data["sources"]
                yield "meta", _meta(outcome, cached=False)
            elif kind == "token":
                if not sent:
                    outcome.ttft_ms = outcome.elapsed_ms()
                    sent = True
                outcome.text.append(data["text"])
                yield "token", data
            elif kind == "done":
                usage = data.get("usage") or {}
                outcome.tokens_in, outcome.tokens_out = (
                    usage.get("tokens_in"),
                    usage.get("tokens_out"),
                )
                outcome.doc_ids = data.get("doc_ids", [])
                outcome.doc_matched = outcome.covered = data.get("covered", True)
                outcome.guard_removed = data.get("guard") or {}
                if leader:
                    outcome.prompt_chars = data.get("prompt_chars", outcome.prompt_chars)
                else:
                    metrics.CACHE_HITS.labels("single_flight").inc()
                yield "done", _done(outcome, _status_of(outcome))
                return
            elif kind == "error":
                if sent or data.get("code") == "cancelled":
                    outcome.status = QueryStatus.ERROR
                    yield "error", data
                    return
                break  # nothing sent yet: answer from the docs below
    except Exception as exc:
        log.warning("single-flight follow failed: %s", exc)
        if sent:
            outcome.status = QueryStatus.ERROR
            yield "error", {"code": "upstream_error", "message": "The answer was interrupted."}
            return
    finally:
        try:
            flight.leave()
        except Exception:
            log.warning("could not leave the flight")
    if sent:
        outcome.status = QueryStatus.ERROR
        yield "error", {"code": "upstream_error", "message": "The answer was interrupted."}
        return
    yield from _docs_fallback(outcome, prompt)


def _docs_fallback(outcome: Outcome, prompt: Prompt) -> Iterator[Event]:
    """The docs answer; for a covered question only when the chain has `docs` (an
    uncovered one is always answered: saying so needs no backend)."""
    if "docs" not in conf.backends() and prompt.covered:
        outcome.status = QueryStatus.ERROR
        yield "error", {"code": "unavailable", "message": "No answer could be produced right now."}
        return
    outcome.cache_level = CacheLevel.NONE
    outcome.backend, outcome.model = "docs", "docs"
    outcome.sources, outcome.doc_ids = prompt.sources, prompt.doc_ids
    outcome.doc_matched = outcome.covered = prompt.covered
    yield "meta", _meta(outcome, cached=False)
    for chunk in DocsBackend().stream(prompt, {}, threading.Event()):
        if outcome.ttft_ms is None:
            outcome.ttft_ms = outcome.elapsed_ms()
        outcome.text.append(chunk)
        yield "token", {"text": chunk}
    yield "done", _done(outcome, _status_of(outcome))


def answer_question(**kwargs: Any) -> tuple[Outcome, dict | None, dict | None]:
    """The whole answer at once: (outcome, body, error). Takes the keyword arguments of
    answer_question_stream; raises RateLimited."""
    reply = answer_question_stream(**kwargs)
    cached = False
    for kind, data in reply.events:
        if kind == "meta":
            cached = data["cached"]
        elif kind == "error":
            return reply.outcome, None, data
    o = reply.outcome
    body = {
        "id": o.id,
        "answer": "".join(o.text),
        "sources": o.sources,
        "cached": cached,
        "backend": o.backend,
        "model": o.model,
        "latency_ms": o.latency_ms,
        "covered": o.covered,
    }
    return o, body, None


def record_outcome(outcome: Outcome, endpoint: str) -> None:
    """Write the query log row and count the metrics; never fails the request."""
    status = outcome.status or QueryStatus.ERROR
    metrics.REQUESTS.labels(endpoint, outcome.backend or "none", status).inc()
    if outcome.latency_ms is not None and outcome.backend:
        metrics.LATENCY.labels(outcome.backend).observe(outcome.latency_ms / 1000)
    if outcome.ttft_ms is not None and outcome.backend:
        metrics.TTFT.labels(outcome.backend).observe(outcome.ttft_ms / 1000)
    row = QueryLog(
        id=outcome.id,
        created=timezone.now(),
        path=outcome.path,
        question=outcome.question,
        audience=outcome.audience,
        backend=outcome.backend,
        model=outcome.model[:200],
        cache_level=outcome.cache_level,
        status=status,
        latency_ms=outcome.latency_ms if outcome.latency_ms is not None else outcome.elapsed_ms(),
        ttft_ms=outcome.ttft_ms,
        prompt_chars=outcome.prompt_chars,
        tokens_in=outcome.tokens_in,
        tokens_out=outcome.tokens_out,
        doc_ids=outcome.doc_ids,
        top_doc_id=outcome.doc_ids[0] if outcome.doc_ids else None,
        doc_matched=outcome.doc_matched,
        guard_removed=sum(outcome.guard_removed.values()),
        guard_kinds=outcome.guard_removed,
        visitor=outcome.visitor,
    )
    for kind, n in outcome.guard_removed.items():
        metrics.GUARD_REMOVED.labels(kind).inc(n)
    log_writer.submit(row)


def record_widget_hits(*, hits: list[tuple[str, str]], user, visitor: str) -> int:
    """Log answers the widget served from its local cache, through the batched log writer."""
    now = timezone.now()
    audience = audience_for(user)
    rows = [
        QueryLog(
            created=now,
            path=path,
            question=normalise_question(question)[:500],
            audience=audience,
            cache_level=CacheLevel.WIDGET,
            status=QueryStatus.OK,
            latency_ms=0,
            visitor=visitor,
        )
        for path, question in hits
        if normalise_question(question)
    ]
    log_writer.submit(*rows)
    metrics.CACHE_HITS.labels("widget").inc(len(rows))
    return len(rows)


def feedback_record(*, answer_id: str, helpful: bool, visitor: str) -> bool:
    """Set the answer's vote (one per answer: a new vote replaces it). False when there is no
    such answer for this visitor."""
    try:
        uuid.UUID(answer_id)
    except ValueError:
        return False
    rows = QueryLog.objects.filter(id=answer_id, visitor=visitor)
    if not rows.update(helpful=helpful):
        # The row may still wait in this process's batch.
        return log_writer.flush() > 0 and rows.update(helpful=helpful) > 0
    return True
