"""The server cache of answers: one key function, Django's cache framework."""

import hashlib
import json
import logging

from django.core.cache import cache

from assistant import backends, conf
from assistant.helpdocs.selectors import docs_version, guess_language, section_of
from assistant.helpdocs.text import normalise_question

log = logging.getLogger(__name__)


def chain_signature() -> str:
    """The model chain with its options: changing either changes every key."""
    parts = []
    for backend in backends.chain():
        parts.append(f"{backend.name}={backend.model_name()}")
    parts.append(
        json.dumps(
            [conf.get(f"{kind}_OPTIONS") for kind in ("OLLAMA", "OPENAI", "EMBEDDED")],
            sort_keys=True,
        )
    )
    return "|".join(parts)


def cache_key(*, question: str, path: str, audience: str, language: str = "") -> str:
    """THE cache key: normalised question, page section, audience, docs version, model chain
    (and the reply language, guessed from the question when not given)."""
    material = "\x1f".join(
        [
            normalise_question(question),
            section_of(path),
            audience,
            language or guess_language(question),
            docs_version(),
            chain_signature(),
        ]
    )
    return "assistant:answer:" + hashlib.sha256(material.encode()).hexdigest()[:40]


def get(key: str) -> dict | None:
    try:
        return cache.get(key)
    except Exception as exc:  # a cache outage slows answers, never breaks them
        log.warning("answer cache read failed: %s", exc)
        return None


# A docs-only answer given because the models failed is kept briefly: once a model is back,
# readers should get its answer, not five more minutes of quotes.
FALLBACK_TTL = 30


def put(key: str, value: dict) -> None:
    ttl = int(conf.get("HELP_CACHE_TTL"))
    if value["backend"] == "docs" and any(name != "docs" for name in conf.backends()):
        ttl = min(ttl, FALLBACK_TTL)
    try:
        cache.set(key, value, ttl)
    except Exception as exc:
        log.warning("answer cache write failed: %s", exc)
