"""Capacity under a real ASGI server: the per-host cap across workers, the queue a reader sees,
and a site that keeps serving pages and cache hits while many slow answers stream."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from assistant.answering.admission import _keys
from tests.conftest import live_env, sse_events, unique_question
from tests.live_server import LiveGunicorn

# The test database must exist (pytest-django sets up only those that marked tests use);
# the live apps read the demo docs committed by the live_docs fixture.
pytestmark = pytest.mark.django_db

Q = {"question": "How do I add a new customer?", "path": "/clients/", "hints": "Clients"}
STREAM = "/assistant/api/help/stream/"



def _unique(label: str) -> dict:
    return {**Q, "question": unique_question(Q["question"])}  # `label`: for the reader


class Reader:
    """One reader's stream, read event by event as it arrives."""

    def __init__(self, app: LiveGunicorn, body: dict):
        self.response = app.session().post(app.url + STREAM, json=body, stream=True, timeout=30)
        self._chunks = self.response.raw.stream(64, decode_content=False)
        self.raw = b""

    def events(self) -> list:
        complete = self.raw[: self.raw.rfind(b"\n\n") + 2]
        return [(k, d) for k, d in sse_events(complete) if k != "comment"]

    def until(self, kind: str) -> dict:
        """Read until the first `kind` event; its data."""
        while True:
            found = [d for k, d in self.events() if k == kind]
            if found:
                return found[0]
            self.raw += next(self._chunks)

    def rest(self) -> list:
        self.raw += b"".join(self._chunks)
        return self.events()

    def hang_up(self) -> None:
        self.response.close()


@pytest.fixture(scope="module")
def capped(live_docs, standin, redis_url):
    """Two separate servers (one worker each: two processes that share only Redis) in front of
    one model host that takes two generations at once, with a short queue."""
    env = live_env(
        standin,
        redis_url,
        WEB_CONCURRENCY="1",
        HELP_OLLAMA_PARALLEL="2",
        HELP_QUEUE_MAX="2",
        HELP_QUEUE_WAIT="4",
        HELP_TIMEOUT="10",
    )
    servers = [LiveGunicorn(env, workers=1), LiveGunicorn(env, workers=1)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def idle_standin(standin):
    """Every test here starts with the stand-in quick and idle: generations still running from
    the test before (whichever it was) would count against this one's caps and timeouts."""
    standin.reset()  # quick answers: whatever still runs ends soon
    standin.wait_idle()
    return standin


@pytest.fixture
def fresh(capped, redis_url):
    """The capped servers with empty Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    return capped


def test_the_per_host_cap_holds_across_two_workers(fresh, standin):
    """Six different questions, three to each server, at once: two generate, two wait, and
    the last two (the queue full) are answered from the docs at once."""
    standin.reset(first_delay=0.5, delay=0.1)  # about 2 s per answer
    barrier = threading.Barrier(6)

    def one(i: int) -> list:
        app = fresh[i % 2]
        s = app.session()
        barrier.wait()
        return sse_events(s.post(app.url + STREAM, json=_unique(f"cap {i}"), timeout=30).content)

    with ThreadPoolExecutor(6) as pool:
        streams = list(pool.map(one, range(6)))
    backends = [next(d["backend"] for k, d in events if k == "meta") for events in streams]
    assert all([k for k, _ in events if k != "comment"][-1] == "done" for events in streams)
    assert standin.max_active == 2  # reached, never passed, by two processes
    assert standin.chat_calls == backends.count("ollama")
    assert backends.count("ollama") >= 2 and backends.count("docs") >= 2
    queued = [events for events in streams if any(k == "queued" for k, _ in events)]
    assert 1 <= len(queued) <= 2  # the queue holds two


def test_a_queued_reader_gets_queued_then_its_answer(fresh, standin):
    standin.reset(first_delay=0.3, delay=0.1)  # about 1.7 s per answer: shorter than the wait
    holders = [Reader(fresh[i], _unique(f"holder {i}")) for i in range(2)]
    for reader in holders:
        reader.until("meta")  # both slots taken
    third = Reader(fresh[1], _unique("third"))
    assert third.until("queued") == {"position": 1, "wait_s": pytest.approx(4, abs=4)}
    events = third.rest()
    kinds = [k for k, _ in events]
    assert kinds[0] == "queued" and kinds[-1] == "done"
    meta = next(d for k, d in events if k == "meta")
    assert meta["backend"] == "ollama"  # a slot came free within HELP_QUEUE_WAIT
    assert "".join(d["text"] for k, d in events if k == "token") == "".join(standin.tokens)
    for reader in holders:
        assert reader.rest()[-1][0] == "done"
    assert standin.max_active == 2


def test_a_reader_who_leaves_while_queued_leaves_the_queue(fresh, standin, redis_url):
    standin.reset(first_delay=0.3, delay=0.3)  # slots held for about 4.5 s
    holders = [Reader(fresh[i], _unique(f"slow holder {i}")) for i in range(2)]
    for reader in holders:
        reader.until("meta")
    queue_key = _keys(standin.url)[1]
    r = redis.Redis.from_url(redis_url)
    leaver = Reader(fresh[0], _unique("leaver"))
    leaver.until("queued")
    assert r.zcard(queue_key) == 1
    leaver.hang_up()
    deadline = time.monotonic() + 3  # well before the slots come free
    while r.zcard(queue_key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.zcard(queue_key) == 0
    for reader in holders:
        reader.hang_up()
    assert standin.chat_calls == 2  # the one who left never reached the model


@pytest.fixture(scope="module")
def roomy(live_docs, standin, redis_url):
    """Production's two workers, with room for many generations at once."""
    server = LiveGunicorn(live_env(standin, redis_url, HELP_OLLAMA_PARALLEL="500"))
    yield server
    server.stop()


def test_many_open_streams_leave_pages_and_cache_hits_served(roomy, standin, redis_url):
    """60 slow answers stream at once (more than the 2 × 16 threads the WSGI setup had): every
    plain page and cache hit asked meanwhile is answered, every stream ends with done, and
    no open stream holds a thread."""
    redis.Redis.from_url(redis_url).flushdb()
    n = 60
    cached = _unique("cached")
    s = roomy.session()
    assert s.post(roomy.url + "/assistant/api/help/", json=cached, timeout=10).ok
    standin.reset(first_delay=1.0, delay=0.3)  # about 5 s per answer
    idle_threads = roomy.worker_threads()
    readers = [Reader(roomy, _unique(f"open {i}")) for i in range(n)]
    for reader in readers:
        reader.until("meta")  # all n are streaming now
    assert standin.active == n
    assert roomy.worker_threads() - idle_threads < n // 4  # (it was n: one each)
    pages = [requests.get(roomy.url + "/", timeout=5).status_code for _ in range(20)]
    hits = [
        s.post(roomy.url + "/assistant/api/help/", json=cached, timeout=5).json()["cached"]
        for _ in range(20)
    ]
    still_open = standin.active
    ends = [reader.rest()[-1][0] for reader in readers]
    assert pages == [200] * 20 and hits == [True] * 20
    assert still_open == n  # the pages were served while every answer was still streaming
    assert ends == ["done"] * n


def test_past_the_open_stream_cap_a_reader_gets_503_busy(live_docs, standin, redis_url):
    env = live_env(standin, redis_url, HELP_MAX_STREAMS="1", WEB_CONCURRENCY="1")
    app = LiveGunicorn(env, workers=1)
    try:
        standin.reset(first_delay=0.5, delay=0.1)
        first = Reader(app, _unique("only one"))
        first.until("meta")
        r = app.session().post(app.url + STREAM, json=_unique("one too many"), timeout=10)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "busy" and int(r.headers["Retry-After"]) > 0
        assert first.rest()[-1][0] == "done"
        again = app.session().post(app.url + STREAM, json=_unique("after"), timeout=10)
        assert again.status_code == 200 and b"event: done" in again.content
    finally:
        app.stop()


def test_the_model_stops_when_the_last_reader_leaves_in_another_worker(fresh, standin):
    from tests.ollama_standin import GROUNDED_TOKENS

    standin.reset(delay=0.1, tokens=list(GROUNDED_TOKENS) * 20)  # about 28 s of answer
    body = _unique("follow")
    leader = Reader(fresh[0], body)
    assert leader.until("meta")["backend"] == "ollama"
    leader.until("token")
    follower = Reader(fresh[1], body)  # the other server: follows through Redis
    follower.until("token")
    leader.hang_up()
    assert not standin.abandoned_event.wait(1.5)  # the follower still listens
    follower.hang_up()
    assert standin.abandoned_event.wait(5)
    assert standin.chat_calls == 1 and len(standin.sent_log) < len(standin.tokens)
