"""Single-flight edge cases: a dead leader, a crashing producer."""

import time
import uuid

import pytest

from assistant import answer_cache, backends, singleflight
from assistant.selectors import audience_for
from tests.conftest import sse_events

pytestmark = pytest.mark.django_db

Q = {"question": "export invoices to pdf", "path": "/invoices/"}


def test_waiter_of_a_dead_leader_answers_from_the_docs(ask, demo_docs, ollama, settings, redis_url):
    """A leader in another worker took the lock and died: the waiter does not hang."""
    import redis

    settings.REDIS_URL = redis_url
    settings.HELP_TIMEOUT = 0.3
    settings.HELP_OLLAMA_RETRIES = 2
    singleflight._client = None
    key = answer_cache.cache_key(
        question=Q["question"], path=Q["path"], audience=audience_for(None), language="en"
    )
    client = redis.Redis.from_url(redis_url)
    client.set(singleflight._lock_key(key), uuid.uuid4().hex, px=60_000)
    try:
        started = time.monotonic()
        r = ask(Q, endpoint="help/stream")
        events = sse_events(b"".join(r.streaming_content))
        elapsed = time.monotonic() - started
    finally:
        client.delete(singleflight._lock_key(key))
        singleflight._client = None
    kinds = [k for k, _ in events if k != "comment"]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    assert events[[k for k, _ in events].index("meta")][1]["backend"] == "docs"
    assert ollama.chat_calls == 0
    assert elapsed < 0.3 * 2 + 1 + 1.5


def test_a_crashing_producer_still_gets_the_user_a_docs_answer(ask, demo_docs, monkeypatch):
    def crash(prompt, cancel):
        raise RuntimeError("bug")
        yield  # pragma: no cover

    monkeypatch.setattr(backends, "generate", crash)
    r = ask(Q)
    assert r.status_code == 200
    assert r.json()["backend"] == "docs" and "Export PDF" in r.json()["answer"]


def test_a_leader_that_fails_before_starting_releases_the_flight(ask, demo_docs, monkeypatch):
    from assistant import services

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_prompt_for", broken)
    assert ask(Q).status_code == 500  # JSON, from the API error handler
    monkeypatch.undo()
    r = ask(Q)  # the next identical question is not stuck behind a dead flight
    assert r.status_code == 200 and r.json()["backend"] == "docs"
    assert singleflight._local == {}
