"""The backend chain (ASSISTANT_BACKENDS): tried in order, each streaming the answer's text."""

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from assistant import conf, metrics
from assistant.answering.events import Done, Event, Meta, Queued, Usage, interrupted, unavailable
from assistant.answering.grounding import GuardRejected, GuardReport, guarded
from assistant.answering.prompt import Prompt
from assistant.backends import breaker
from assistant.backends.base import Backend, BackendBusy, BackendError
from assistant.backends.docs import DocsBackend
from assistant.backends.embedded import EmbeddedBackend
from assistant.backends.ollama import OllamaBackend
from assistant.backends.openai import OpenAIBackend
from assistant.backends.remote import RemoteBackend

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
        covered=prompt.covered,
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
        try:
            async with aclosing(guarded(backend.stream(prompt, usage), prompt, report)) as items:
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

