"""The backend chain (ASSISTANT_BACKENDS): tried in order, each streaming text chunks."""

import logging
import threading
import time
from collections.abc import Iterator

from .. import breaker, conf, metrics
from ..grounding import GuardRejected, GuardReport, guarded
from ..prompt import Prompt
from .base import Backend, BackendBusy, BackendError
from .docs import DocsBackend
from .embedded import EmbeddedBackend
from .ollama import OllamaBackend

log = logging.getLogger(__name__)

REGISTRY: dict[str, Backend] = {
    b.name: b for b in (OllamaBackend(), EmbeddedBackend(), DocsBackend())
}

__all__ = ["REGISTRY", "Backend", "BackendBusy", "BackendError", "chain", "generate"]


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


def generate(prompt: Prompt, cancel: threading.Event) -> Iterator[tuple[str, dict]]:
    """Events from the first backend that answers: ("trying", {backend}) per backend tried,
    ("start", {backend, model}), ("token", {text})…, then ("end", {usage, guard}) or
    ("error", …). Model text goes through the grounding guard; an answer it rejects is
    replaced by the docs answer."""
    report = GuardReport()
    for backend in chain():
        if backend.guarded and not breaker.allow(backend.name, probe=backend.probe):
            continue
        if backend.name == "docs":
            yield from _docs_answer(prompt, cancel, report)
            return
        yield "trying", {"backend": backend.name}
        usage: dict = {}
        started = time.perf_counter()
        sent = False
        try:
            for text in guarded(backend.stream(prompt, usage, cancel), prompt, report):
                if not sent:
                    yield "start", {"backend": backend.name, "model": backend.model_name()}
                    sent = True
                yield "token", {"text": text}
            if cancel.is_set():
                yield "error", {"code": "cancelled", "message": "The request was cancelled."}
                return
        except GuardRejected:
            log.info("the guard rejected the answer of %s: %s", backend.name, report.as_dict())
            metrics.GUARD_REJECTED.labels(backend.name).inc()
            if "docs" in conf.backends():
                yield from _docs_answer(prompt, cancel, report)
                return
            break
        except BackendBusy as exc:
            log.info("backend %s busy: %s", backend.name, exc)
            continue
        except BackendError as exc:
            log.warning("backend %s failed: %s", backend.name, exc)
            metrics.UPSTREAM_ERRORS.labels(backend.name).inc()
            if backend.guarded:
                breaker.failure(backend.name)
            if sent:
                yield (
                    "error",
                    {
                        "code": "upstream_error",
                        "message": "The answer was interrupted. Please ask again.",
                    },
                )
                return
            continue
        if backend.guarded:
            breaker.success(backend.name)
        metrics.UPSTREAM_LATENCY.labels(backend.name).observe(time.perf_counter() - started)
        yield "end", {"usage": usage, "guard": report.as_dict()}
        return
    yield "error", {"code": "unavailable", "message": "No answer could be produced right now."}


def _docs_answer(
    prompt: Prompt, cancel: threading.Event, report: GuardReport
) -> Iterator[tuple[str, dict]]:
    docs = REGISTRY["docs"]
    yield "start", {"backend": docs.name, "model": docs.model_name()}
    for text in docs.stream(prompt, {}, cancel):
        yield "token", {"text": text}
    yield "end", {"usage": {}, "guard": report.as_dict()}
