"""A burst of new questions: what it costs before each first byte, and how the workers share
it (issue 27; the figures are `make bench`'s load section).

- a cold worker builds the docs index once, however many questions wait for it;
- the guard reads a set of passages once, not once per answer;
- the anonymous visitor's day key is not a cache round trip per request;
- the app times its own first bytes (helpdesk_first_byte_seconds), per endpoint;
- with GUNICORN_REUSE_PORT=1, each worker accepts on a socket of its own and the kernel
  spreads connections over them; gunicorn's shared socket takes none.
"""

import socket
import threading
import time

import pytest
import requests
from asgiref.sync import async_to_sync

from assistant.answering import grounding
from assistant.answering.prompt import build_prompt
from assistant.helpdocs import selectors
from assistant.web import visitors
from bench.load import _connections, _workers
from tests.conftest import unique_question
from tests.live_server import LiveGunicorn


def test_a_burst_on_a_cold_worker_builds_the_index_once(monkeypatch):
    monkeypatch.setattr(selectors, "docs_version", lambda: "burst-test")
    builds, entered, release = [], threading.Semaphore(0), threading.Event()

    def slow_build(audience):
        builds.append(audience)
        entered.release()
        release.wait(10)  # held open: without the lock, every other thread builds too
        return object()

    monkeypatch.setattr(selectors, "build_index", slow_build)
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(selectors.index_for("public")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    assert entered.acquire(timeout=10)
    # A second build would start within this second; with the lock, none ever does.
    second = entered.acquire(timeout=1)
    release.set()
    for t in threads:
        t.join(10)
    assert not second and len(builds) == 1
    assert len(got) == 8 and len({id(i) for i in got}) == 1


@pytest.mark.django_db
def test_the_guard_reads_the_same_passages_once(demo_docs, monkeypatch):
    grounding._passages.cache_clear()
    made = []
    original = grounding.StepChecks
    monkeypatch.setattr(
        grounding, "StepChecks", lambda *a, **k: made.append(1) or original(*a, **k)
    )

    def prompt(question):
        found = selectors.helpdoc_retrieve(query=question, path="/", audience="public")
        return build_prompt(question=question, path="/", hints="", retrieval=found)

    prompts = [prompt(unique_question("How do I add a new client?")) for _ in range(5)]
    prompts = [p for p in prompts if p.passages_text == prompts[-1].passages_text]
    assert len(prompts) >= 4  # (the first may come before the index has its vectors)
    for p in prompts:  # the same sections, several readers
        grounding.Guard(p)
    assert len(made) == 1
    grounding.Guard(prompt("How do I export invoices to PDF?"))  # other sections
    assert len(made) == 2


@pytest.mark.django_db
def test_an_anonymous_visitor_costs_no_cache_round_trip_per_request(monkeypatch):
    from django.core.cache import cache

    reads = []
    original = cache.get
    monkeypatch.setattr(cache, "get", lambda *a, **k: reads.append(a[0]) or original(*a, **k))
    first = visitors.visitor_of(None, "10.0.0.9")
    after_first = len(reads)
    assert after_first >= 1  # today's key (and the day before's) read once
    for _ in range(20):
        assert visitors.visitor_of(None, "10.0.0.9") == first
    assert len(reads) == after_first


def _observed(endpoint: str) -> float:
    from assistant import metrics

    return sum(b.get() for b in metrics.FIRST_BYTE.labels(endpoint)._buckets)


def test_the_app_times_its_own_first_bytes_per_endpoint():
    from assistant.web.timing import first_byte_timer

    sent = []

    async def app(scope, receive, send):  # headers, an empty chunk, then the first byte
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b": on its way", "more_body": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": False})

    async def send(message):
        sent.append(message)

    before = {e: _observed(e) for e in ("stream", "help", "other")}
    timed = first_byte_timer(app)
    async_to_sync(timed)({"type": "http", "path": "/assistant/api/help/stream/"}, None, send)
    async_to_sync(timed)({"type": "http", "path": "/clients/"}, None, send)
    after = {e: _observed(e) for e in before}
    assert after == {
        "stream": before["stream"] + 1,  # once per request, at its first byte
        "help": before["help"],
        "other": before["other"] + 1,
    }
    assert len(sent) == 8  # everything passed on


@pytest.fixture
def reuse_port_app(live_docs, standin, redis_url, monkeypatch):
    from tests.conftest import live_env

    monkeypatch.setenv("GUNICORN_REUSE_PORT", "1")
    server = LiveGunicorn(live_env(standin, redis_url))
    yield server
    server.stop()


@pytest.mark.django_db
def test_with_a_socket_per_worker_the_kernel_spreads_connections(reuse_port_app):
    app = reuse_port_app
    workers = _workers(app.proc.pid)
    assert len(workers) == 2
    held = [socket.create_connection(("127.0.0.1", app.port)) for _ in range(200)]
    try:
        # Accepted (each worker's loop took its own), then counted from /proc.
        deadline = time.monotonic() + 10
        while sum(counts := _connections(workers, app.port)) < 200:
            assert time.monotonic() < deadline, counts
        assert min(counts) >= 50, counts  # about 100 each; never all on one
        # gunicorn's shared socket left the spread: nothing queues on it unanswered.
        for _ in range(20):
            assert requests.get(app.url + "/assistant/api/health/", timeout=5).ok
        metrics = requests.get(
            app.url + "/assistant/metrics", headers={"Authorization": "Bearer live-token"}
        ).text
        assert 'helpdesk_first_byte_seconds_count{endpoint="other"}' in metrics
    finally:
        for s in held:
            s.close()
