"""The events of one answer, typed. The backends emit them, the flight carries them, the
listener observes them and the SSE framing writes them: the same values all the way, one class
per kind, named on the wire by `Kind`."""

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import ClassVar

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from assistant.helpdocs.selectors import COVERED


class Kind(StrEnum):
    QUEUED = "queued"
    META = "meta"
    TOKEN = "token"
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Queued:
    """The question waits for a model slot: `position` 1 is next."""

    kind: ClassVar[Kind] = Kind.QUEUED
    position: int
    wait_s: float


@dataclass(frozen=True, slots=True)
class Meta:
    """Who answers, from which docs, and where this reader's copy comes from (the model
    call's own, another reader's flight, the server cache); goes out before the first token."""

    kind: ClassVar[Kind] = Kind.META
    backend: str
    model: str
    sources: list[dict] = field(default_factory=list)
    doc_ids: list[int] = field(default_factory=list)
    coverage: str = COVERED  # how well the docs cover the question (helpdocs.selectors)
    cache_level: str = "none"  # a models.CacheLevel

    @property
    def covered(self) -> bool:
        return self.coverage == COVERED


@dataclass(frozen=True, slots=True)
class Token:
    kind: ClassVar[Kind] = Kind.TOKEN
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    """The answer is complete. What the model reported, and what the guard removed."""

    kind: ClassVar[Kind] = Kind.DONE
    tokens_in: int | None = None
    tokens_out: int | None = None
    guard: dict[str, int] = field(default_factory=dict)
    prompt_chars: int = 0


@dataclass(frozen=True, slots=True)
class Error:
    """The answer ends here: in place of the rest of the events."""

    kind: ClassVar[Kind] = Kind.ERROR
    code: str
    message: str


Event = Queued | Meta | Token | Done | Error
TERMINAL = (Done, Error)
_CLASSES: dict[Kind, type] = {cls.kind: cls for cls in (Queued, Meta, Token, Done, Error)}


@dataclass
class Usage:
    """Filled by a backend while it streams, when the model reports it."""

    tokens_in: int | None = None
    tokens_out: int | None = None


def encode(event: Event) -> tuple[str, str]:
    """(kind, JSON) for a flight shared through Redis."""
    return event.kind.value, json.dumps(asdict(event))


def decode(kind: str, data: str | bytes) -> Event:
    return _CLASSES[Kind(kind)](**json.loads(data))


# Errors by code: the status of the JSON endpoint's reply when its answer ends in one.
ERROR_STATUS = {"unavailable": 503}


# The errors that end an answer, by code; written in the answer's language.
_MESSAGES = {
    "upstream_error": gettext_noop("The answer was interrupted. Please ask again."),
    "unavailable": gettext_noop("No answer could be produced right now."),
    "internal": gettext_noop("The answer failed."),
    "cancelled": gettext_noop("The request was cancelled."),
}


def ending(code: str, language: str = "") -> Error:
    with translation.override(language or translation.get_language()):
        return Error(code, gettext(_MESSAGES[code]))


def interrupted(language: str = "") -> Error:
    return ending("upstream_error", language)


def unavailable(language: str = "") -> Error:
    return ending("unavailable", language)


def failed(language: str = "") -> Error:
    return ending("internal", language)


def cancelled(language: str = "") -> Error:
    return ending("cancelled", language)
