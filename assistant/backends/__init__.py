"""The backend chain (ASSISTANT_BACKENDS): tried in order, each streaming the answer's text."""

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.utils import translation
from django.utils.translation import gettext

from assistant import conf, metrics
from assistant.answering.events import (
    Done,
    Event,
    Meta,
    Queued,
    Token,
    Usage,
    interrupted,
    unavailable,
)
from assistant.answering.grounding import GuardRejected, GuardReport, guarded
from assistant.answering.prompt import NOT_COVERED_REPLY, Prompt, says_not_covered
from assistant.backends import breaker
from assistant.backends.base import Backend, BackendBusy, BackendError
from assistant.backends.docs import DocsBackend
from assistant.backends.embedded import EmbeddedBackend
from assistant.backends.ollama import OllamaBackend
from assistant.backends.openai import OpenAIBackend
from assistant.backends.remote import RemoteBackend
from assistant.helpdocs.selectors import MAYBE

log = logging.getLogger(__name__)

REGISTRY: dict[str, Backend] = {
    b.name: b for b in (OllamaBackend(), OpenAIBackend(), EmbeddedBackend(), DocsBackend())
}

__all__ = [
    "REGISTRY",
    "Backend",
    "BackendBusy",
    "BackendError",
    "RemoteBackend",
    "chain",
    "generate",
]


def chain() -> list[Backend]:
    """The configured backends that exist and are set up, in order."""
    out = []
    for name in conf.backends():
        backend = REGISTRY.get(name)
        if backend is None:
            log.warning("unknown backend %r in ASSISTANT_BACKENDS", name)
        elif backend.configured():
            out.append(backend)
    return out


def _meta(backend: Backend, prompt: Prompt) -> Meta:
    return Meta(
        backend=backend.name,
        model=backend.model_name(),
        sources=prompt.sources,
        doc_ids=prompt.doc_ids,
        coverage=prompt.coverage,
    )


async def generate(prompt: Prompt) -> AsyncIterator[Event]:
    """The answer from the first backend that gives one: Queued… while a model slot is
    awaited, Meta, Token…, then Done or Error. Model text goes through the grounding guard;
    an answer it rejects is replaced by the docs answer."""
    report = GuardReport()
    for backend in chain():
        if backend.guarded and not await breaker.aallow(backend.name, probe=backend.probe):
            continue
        if backend.name == "docs":
            async for event in docs_answer(prompt, report):
                yield event
            return
        usage = Usage()
        started = time.perf_counter()
        sent = False
        raw: list[str] = []  # the model's text as it came, before the guard
        try:
            tokens = _teed(backend.stream(prompt, usage), raw)
            async with aclosing(guarded(tokens, prompt, report)) as items:
                async for item in items:
                    if isinstance(item, Queued):
                        if not sent:
                            yield item
                        continue
                    if not sent:
                        yield _meta(backend, prompt)
                        sent = True
                    yield item
        except GuardRejected:
            if prompt.coverage == MAYBE and says_not_covered("".join(raw)):
                async for event in _docs_dont_say(backend, prompt, usage, started):
                    yield event
                return
            log.info("the guard rejected the answer of %s: %s", backend.name, report.as_dict())
            metrics.GUARD_REJECTED.labels(backend.name).inc()
            if "docs" in conf.backends():
                async for event in docs_answer(prompt, report):
                    yield event
                return
            break
        except BackendBusy as exc:
            log.info("backend %s busy: %s", backend.name, exc)
            continue
        except BackendError as exc:
            log.warning("backend %s failed: %s", backend.name, exc)
            metrics.UPSTREAM_ERRORS.labels(backend.name).inc()
            if backend.guarded:
                await breaker.afailure(backend.name)
            if sent:
                yield interrupted(prompt.language)
                return
            continue
        if backend.guarded:
            await breaker.asuccess(backend.name)
        metrics.UPSTREAM_LATENCY.labels(backend.name).observe(time.perf_counter() - started)
        yield Done(
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            guard=report.as_dict(),
            prompt_chars=prompt.chars,
        )
        return
    yield unavailable(prompt.language)


async def _teed(items: AsyncIterator, raw: list[str]) -> AsyncIterator:
    """A backend's events, its text kept in `raw` as well."""
    async with aclosing(items):
        async for item in items:
            if isinstance(item, Token):
                raw.append(item.text)
            yield item


async def _docs_dont_say(
    backend: Backend, prompt: Prompt, usage: Usage, started: float
) -> AsyncIterator[Event]:
    """The model's reply that the best candidates of a `maybe` question don't answer it,
    honoured (the guard holds a reply that names nothing of the passages): the reader is told
    so, in their language, by the model that said it."""
    if backend.guarded:
        await breaker.asuccess(backend.name)
    metrics.UPSTREAM_LATENCY.labels(backend.name).observe(time.perf_counter() - started)
    yield _meta(backend, prompt)
    with translation.override(prompt.language or "en"):
        yield Token(gettext(NOT_COVERED_REPLY))
    yield Done(tokens_in=usage.tokens_in, tokens_out=usage.tokens_out, prompt_chars=prompt.chars)


async def docs_answer(prompt: Prompt, report: GuardReport | None = None) -> AsyncIterator[Event]:
    """The docs answer as events: what a reader gets when no model can answer (`report`: what
    the guard removed from a model's answer it replaces)."""
    docs = REGISTRY["docs"]
    yield _meta(docs, prompt)
    async for token in docs.stream(prompt, Usage()):
        yield token
    yield Done(
        guard=report.as_dict() if report else {}, prompt_chars=prompt.chars if report else 0
    )

