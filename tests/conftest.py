import itertools
import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections
from django.test import AsyncClient

from assistant.answering import admission, flight
from assistant.answering.events import Token
from assistant.backends import breaker, model_http
from assistant.backends.base import Backend, BackendError
from assistant.helpdocs import selectors
from assistant.runtime import redis_async
from assistant.web import visitors
from tests.canned_server import CannedServer
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, LiveGunicorn, db_url
from tests.ollama_standin import OllamaStandIn

IN_CI = bool(os.environ.get("CI"))


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


class _HeldClock:
    """The rate limit's clock, held in the middle of one fixed window (a test that crossed a
    minute boundary would get a fresh budget halfway through its requests)."""

    @staticmethod
    def time() -> float:
        return 1_800_030.0


@pytest.fixture(autouse=True)
def _isolated(settings, monkeypatch):
    """Each test starts with an empty cache, closed breakers, fresh pools, a docs-only chain,
    and the rate limit's window held still."""
    from assistant.answering import ratelimit

    monkeypatch.setattr(ratelimit, "time", _HeldClock)
    cache.clear()
    visitors.forget_keys()
    selectors.docs_version_reset()
    selectors._indexes.clear()
    flight.reset()
    breaker.forget_memo()
    redis_async.reset()
    admission.reset()
    model_http.reset_session()
    settings.ASSISTANT_BACKENDS = ["docs"]
    settings.HELP_RATE_LIMIT = "1000/60"
    settings.HELP_LOG_BATCH_SECONDS = 0  # inline; the batching itself has its own test
    yield
    model_http.reset_session()


class Recording(Backend):
    """A model stand-in in the chain: records prompts, answers with a fixed text or fails."""

    name = "recording"
    guarded = False

    def __init__(self, fail: bool = False):
        self.prompts = []
        self.fail = fail

    async def stream(self, prompt, usage):
        self.prompts.append(prompt)
        if self.fail:
            raise BackendError("down")
        yield Token("From the docs: ")
        yield Token("click New client.")


@pytest.fixture
def recording(settings, monkeypatch):
    """A Recording backend in the chain, before the docs answer."""
    from assistant import backends

    backend = Recording()
    monkeypatch.setitem(backends.REGISTRY, "recording", backend)
    settings.ASSISTANT_BACKENDS = ["recording", "docs"]
    return backend


@pytest.fixture
def model_server():
    """A model server on loopback with canned replies (tests/canned_server.py)."""
    server = CannedServer()
    yield server
    server.close()


@pytest.fixture
def second_model_server():
    server = CannedServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def standin():
    server = OllamaStandIn().start()
    yield server
    server.close()


@pytest.fixture
def ollama(standin, settings, demo_docs):
    """The stand-in, reset, as the only Ollama host, with the docs fallback behind it (and the
    demo docs: an uncovered question never reaches a model)."""
    standin.reset()
    settings.OLLAMA_URL = standin.url
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    settings.HELP_TIMEOUT = 2
    return standin


def _gguf() -> str:
    from assistant.backends.embedded import _packaged_model

    return _packaged_model()


@pytest.fixture(scope="session")
def llama_server():
    """The real OpenAI-compatible server (llama-cpp-python's), for the session."""
    from tests.model_server import LlamaServer

    try:
        import llama_cpp.server  # noqa: F401

        server = LlamaServer(_gguf())
    except (ImportError, RuntimeError) as exc:
        if IN_CI:
            pytest.fail(f"llama_cpp.server is required under CI: {exc}")
        pytest.skip(f"llama_cpp.server cannot run here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def openai_chain(llama_server, settings, demo_docs, model_doc):
    """The real server as the only `openai` host, greedy decoding, the docs behind it."""
    settings.OPENAI_BASE_URL = llama_server.url
    settings.OPENAI_MODEL = "smollm2"
    settings.OPENAI_OPTIONS = {"temperature": 0.0, "max_tokens": 160}
    settings.ASSISTANT_BACKENDS = ["openai", "docs"]
    settings.HELP_TIMEOUT = 10
    return llama_server


# A doc and a question the small real model (SmolLM2, greedy) answers in the doc's own words,
# so that its answer passes the guard: the backends' tests are about the plumbing.
MODEL_Q = {"question": "How do I reset the counter?", "path": "/", "hints": ""}


@pytest.fixture
def model_doc(db):
    from assistant.models import HelpDoc

    HelpDoc.objects.create(
        title="Resetting the counter",
        slug="reset-counter",
        body="To reset the counter, click **Reset counter**. "
        "The counter then starts again from zero.",
    )


@pytest.fixture
def demo_docs(db):
    call_command("load_demo_docs", stdout=open(os.devnull, "w"))


@pytest.fixture
def grounded_prompt(demo_docs):
    """The prompt of a question the demo docs cover ("add a new customer"), as the answering
    path builds it: what the stand-in's default answer is grounded in."""
    from assistant.answering.prompt import build_prompt
    from assistant.helpdocs.selectors import helpdoc_retrieve

    question = "How do I add a new customer?"
    found = helpdoc_retrieve(query=question, path="/clients/", audience="public")
    assert found.covered
    return build_prompt(question=question, path="/clients/", hints="", retrieval=found)


class _AsyncClientFrom(AsyncClient):
    """Django's AsyncClient, from a given client address."""

    def __init__(self, address: str, **kwargs):
        super().__init__(**kwargs)
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 0]}


@pytest.fixture
def ask(client):
    """POST a JSON body to an assistant endpoint through Django's ASGI handler (the help views
    are async), with the cookies of the `client` fixture (a login carries over).

    `extra`: HTTP_* headers and REMOTE_ADDR, as with the WSGI test client. A stream is read
    to its end: `r.streamed` holds its bytes, `r.chunks` each chunk with its arrival time.
    """

    def _ask(body, endpoint="help", **extra):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = {k[5:].replace("_", "-"): v for k, v in extra.items() if k.startswith("HTTP_")}

        async def go():
            async_client = _AsyncClientFrom(extra.get("REMOTE_ADDR", "127.0.0.1"))
            async_client.cookies = client.cookies
            r = await async_client.post(
                f"/assistant/api/{endpoint}/",
                data,
                content_type="application/json",
                headers=headers,
            )
            if r.streaming:
                r.chunks = []
                async for chunk in r.streaming_content:
                    r.chunks.append((chunk, time.perf_counter()))
                r.streamed = b"".join(chunk for chunk, _ in r.chunks)
            return r

        return async_to_sync(go)()

    return _ask


def collect(events) -> list:
    """Every item of an async iterator (a backend chain, a flight), from sync test code."""

    async def go():
        return [item async for item in events]

    return async_to_sync(go)()


def log_row(**fields):
    """One query-log row, written directly: an answered question on / by default."""
    from django.utils import timezone

    from assistant.models import CacheLevel, QueryLog, QueryStatus

    defaults = dict(
        created=timezone.now(),
        question="q",
        path="/",
        audience="public",
        backend="ollama",
        status=QueryStatus.OK,
        cache_level=CacheLevel.NONE,
    )
    return QueryLog.objects.create(**{**defaults, **fields})


_SERIAL = itertools.count()


def unique_question(question: str) -> str:
    """`question` made unique (no cache hit, no flight to share) and answered from the same
    sections: the marker is one long number, which matches no figure of the docs (a small
    one, such as "5", ranked the doc with "5,000 rows" first) and names no topic (a word
    would count in the coverage decision)."""
    return f"{question} ({time.time_ns()}{next(_SERIAL)})"


def sse_events(raw: bytes) -> list[tuple[str, dict | str]]:
    """Parse an event stream: [("comment", text) | (event, data)]."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            out.append(("comment", block[1:].strip()))
            continue
        kind, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        out.append((kind, json.loads(data)))
    return out


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    if not _reachable(url):
        if IN_CI:
            pytest.fail(f"Redis is required under CI and not reachable at {url}")
        pytest.skip("Redis not reachable")
    return url


@pytest.fixture
def live_app(_live_app, standin, redis_url):
    """The live app with a clean slate: empty cache, closed breakers, and the stand-in back to
    its quick default answer (whatever test ran before, in whatever order)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    standin.reset()
    return _live_app


def live_env(standin, redis_url: str, **overrides: str) -> dict:
    """The environment of a live app: Redis, the test database (with the demo docs), the
    stand-in as Ollama."""
    from django.conf import settings as dj

    return {
        "DATABASE_URL": db_url(dj.DATABASES["default"]),
        "REDIS_URL": redis_url,
        "OLLAMA_URL": standin.url,
        "ASSISTANT_BACKENDS": "ollama,docs",
        "HELP_RATE_LIMIT": "1000/60",
        "HELP_TIMEOUT": "3",
        "HELP_LOG_BATCH_SECONDS": "0",
        "ASSISTANT_METRICS_TOKEN": "live-token",
        "WEB_CONCURRENCY": "2",
        "DEBUG": "0",
        **overrides,
    }


@pytest.fixture(scope="module")
def live_docs(django_db_setup, django_db_blocker):
    """The demo docs, committed, for apps in other processes to read; afterwards, the docs
    and the query log those apps committed are removed (other tests count their rows)."""
    from assistant.models import HelpDoc, QueryLog

    with django_db_blocker.unblock():
        call_command("load_demo_docs", stdout=open(os.devnull, "w"))
    yield
    with django_db_blocker.unblock():
        QueryLog.objects.all().delete()
        HelpDoc.objects.all().delete()


@pytest.fixture(scope="module")
def _live_app(live_docs, standin, redis_url):
    """gunicorn with 2 uvicorn workers, as in production."""
    server = LiveGunicorn(live_env(standin, redis_url))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, for a module's tests."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("make test installs Debian's chromium; it is missing")
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own database work
    # (the django_db transaction) is sync code that Django would then refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()
        # With that loop running, Django keeps this thread's connections apart from the
        # ones it had before (async storage): closed here, or the suite could not drop its
        # test database at the end ("being accessed by other users").
        connections.close_all()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


STREAM = "/assistant/api/help/stream/"


def _csp_violations(message) -> bool:
    return message.type == "error" and "Content Security Policy" in message.text


@pytest.fixture
def page(live_app, standin, browser):
    """A page of its own. Every test using it also fails on any Content-Security-Policy
    violation: Chromium reports each one on the console."""
    standin.reset()
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.stream_requests = []
    pg.failed = []
    pg.dialogs = []
    pg.csp_violations = []
    pg.on("request", lambda r: STREAM in r.url and pg.stream_requests.append(r))
    pg.on("requestfailed", lambda r: pg.failed.append((r.url, r.failure)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: _csp_violations(m) and pg.csp_violations.append(m.text))
    pg.base = live_app.url
    yield pg
    context.close()
    assert not pg.csp_violations, pg.csp_violations


