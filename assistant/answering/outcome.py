"""What happened to one question, as its listener saw the events go by; then logged."""

import time
from dataclasses import dataclass, field

from assistant.answering.events import Done, Error, Event, Meta, Queued, Token
from assistant.helpdocs.selectors import COVERED, NONE
from assistant.models import CacheLevel, QueryStatus


@dataclass
class Outcome:
    id: str
    question: str  # as typed (the log keeps it redacted and normalised: querylog.records)
    path: str
    audience: str
    visitor: str
    resolved: str = ""  # the standalone question answered (the question, unless a follow-up)
    follow_up: bool = False
    cache_level: str = CacheLevel.NONE
    started: float = field(default_factory=time.perf_counter)
    backend: str = ""
    model: str = ""
    status: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    queued_ms: float | None = None
    prompt_chars: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    doc_ids: list = field(default_factory=list)
    doc_matched: bool | None = None
    coverage: str = ""  # how well the docs cover the question ("": no meta event yet)
    guard_removed: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    text: list = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.coverage == COVERED

    @property
    def resolved_log(self) -> str:
        """What the log keeps beside the question as typed (normalised): the standalone
        question answered, as written (a later turn's follow-up reads it)."""
        return self.resolved[:500]

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def observe(self, event: Event) -> None:
        """Take in one event the reader is about to receive."""
        match event:
            case Queued():
                if self.queued_ms is None:
                    self.queued_ms = self.elapsed_ms()
            case Meta():
                self.backend, self.model = event.backend, event.model
                self.cache_level = event.cache_level
                self.sources, self.doc_ids = event.sources, event.doc_ids
                self.coverage, self.doc_matched = event.coverage, event.covered
            case Token():
                if self.ttft_ms is None:
                    self.ttft_ms = self.elapsed_ms()
                self.text.append(event.text)
            case Done():
                self.tokens_in, self.tokens_out = event.tokens_in, event.tokens_out
                self.guard_removed = event.guard
                if self.cache_level == CacheLevel.NONE:  # the model call was this question's
                    self.prompt_chars = event.prompt_chars
                self.status = self._answered_status()
                self.latency_ms = self.elapsed_ms()
            case Error():
                self.status = QueryStatus.ERROR
                self.latency_ms = self.elapsed_ms()

    def _answered_status(self) -> str:
        if self.coverage == NONE:  # `maybe` was answered: its coverage is logged apart
            return QueryStatus.NOT_COVERED
        return QueryStatus.FALLBACK if self.backend == "docs" else QueryStatus.OK

    def wire(self, event: Event) -> dict:
        """The event's data as the reader receives it (SSE `data:`)."""
        match event:
            case Queued():
                return {"position": event.position, "wait_s": event.wait_s}
            case Meta():
                return {
                    "id": self.id,
                    "sources": event.sources,
                    "cached": event.cache_level == CacheLevel.SERVER,
                    "backend": event.backend,
                    "model": event.model,
                    "covered": event.covered,
                    "coverage": event.coverage,
                    "resolved": self.resolved,
                }
            case Token():
                return {"text": event.text}
            case Done():
                return {"id": self.id, "latency_ms": self.latency_ms, "ttft_ms": self.ttft_ms}
            case Error():
                return {"code": event.code, "message": event.message}

    def body(self) -> dict:
        """The JSON endpoint's reply once the answer is done."""
        return {
            "id": self.id,
            "answer": "".join(self.text),
            "sources": self.sources,
            "cached": self.cache_level == CacheLevel.SERVER,
            "backend": self.backend,
            "model": self.model,
            "latency_ms": self.latency_ms,
            "covered": self.covered,
            "coverage": self.coverage,
            "resolved": self.resolved,
        }
