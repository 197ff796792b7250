"""Against the app under gunicorn with uvicorn workers (2, Redis, the stand-in as Ollama)."""

import threading
import time

import pytest
import requests

from tests.conftest import sse_events, unique_question
from tests.ollama_standin import GROUNDED_TOKENS, SENTENCES

# The test database must exist (pytest-django sets up only those that marked tests use);
# the live apps read the demo docs committed by the live_docs fixture.
pytestmark = pytest.mark.django_db

Q = {"question": "How do I add a new customer?", "path": "/clients/", "hints": "Clients"}



def _unique(label: str) -> dict:
    """Q made unique (no cache, no flight to share), still covered by the demo docs."""
    return {**Q, "question": unique_question(Q["question"])}  # `label`: for the reader


def _read(response) -> tuple[bytes, float | None]:
    """The whole raw stream, and when its first token event arrived."""
    raw, first_at = b"", None
    for chunk in response.raw.stream(64, decode_content=False):
        raw += chunk
        if first_at is None and b"event: token" in raw:
            first_at = time.perf_counter()
    return raw, first_at


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_first_token_reaches_the_client_before_the_model_sends_its_last(
    live_app, standin, encoding
):
    standin.reset(delay=0.2)
    s = live_app.session()
    with s.post(
        live_app.url + "/assistant/api/help/stream/",
        json=_unique("first token"),
        headers={"Accept-Encoding": encoding},
        stream=True,
        timeout=10,
    ) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        assert "Content-Encoding" not in r.headers
        raw, first_token_at = _read(r)
    assert first_token_at is not None
    assert first_token_at < standin.sent_log[-2][0]
    kinds = [k for k, _ in sse_events(raw) if k != "comment"]
    assert kinds == ["meta"] + ["token"] * SENTENCES + ["done"], raw.decode()


def test_client_disconnect_closes_the_upstream_connection(live_app, standin):
    import json
    import socket

    standin.reset(delay=0.1, tokens=list(GROUNDED_TOKENS) * 10)
    s = live_app.session()
    body = json.dumps(_unique("disconnect")).encode()
    head = (
        f"POST /assistant/api/help/stream/ HTTP/1.1\r\nHost: 127.0.0.1:{live_app.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-CSRFToken: {s.headers['X-CSRFToken']}\r\nReferer: {s.headers['Referer']}\r\n"
        f"Cookie: csrftoken={s.cookies['csrftoken']}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", live_app.port), timeout=10)
    sock.sendall(head + body)
    seen = b""
    while seen.count(b"event: token") < 2:
        chunk = sock.recv(4096)
        assert chunk, f"the stream ended early: {seen[-300:]!r}"
        seen += chunk
    sock.close()  # the user closed the tab
    assert standin.abandoned_event.wait(10), "the stand-in never saw its stream closed"
    assert len(standin.sent_log) < len(GROUNDED_TOKENS) * 10


def test_twenty_concurrent_identical_questions_make_one_upstream_call(live_app, standin):
    standin.reset(first_delay=1.0, delay=0.05)
    body = _unique("concurrent")
    barrier = threading.Barrier(20)
    results: list = [None] * 20

    def one(i: int) -> None:
        s = live_app.session()
        barrier.wait()
        endpoint = "help/stream/" if i % 2 else "help/"
        r = s.post(f"{live_app.url}/assistant/api/{endpoint}", json=body, timeout=30)
        if endpoint == "help/":
            results[i] = r.json()["answer"]
        else:
            events = sse_events(r.content)
            results[i] = "".join(d["text"] for k, d in events if k == "token")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert standin.chat_calls == 1
    assert results == ["".join(standin.tokens)] * 20


def test_waiters_fall_back_cleanly_when_the_leader_fails(live_app, standin):
    """The leader's model breaks before any token: nobody hangs, everyone gets an answer."""
    standin.reset(mode="hang", hang=1.5)
    body = _unique("leader fails")
    out: list = []

    def one() -> None:
        r = live_app.session().post(f"{live_app.url}/assistant/api/help/", json=body, timeout=30)
        out.append((r.status_code, r.json().get("backend")))

    threads = [threading.Thread(target=one) for _ in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out == [(200, "docs")] * 4
    # HELP_TIMEOUT=3 in the live app: well under the leader's retries plus a margin
    assert time.monotonic() - started < 3 * 2 + 3


def test_metrics_and_health_under_several_workers(live_app, standin):
    health = requests.get(live_app.url + "/assistant/api/health/", timeout=5).json()
    assert health["cache"]["backend"] == "RedisCache" and health["cache"]["ok"]
    url = live_app.url + "/assistant/metrics"
    assert requests.get(url, timeout=5).status_code == 401
    auth = {"Authorization": "Bearer live-token"}

    def answered() -> float:
        text = requests.get(url, headers=auth, timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("helpdesk_requests_total{") and 'endpoint="help"' in line
        )

    before = answered()
    for i in range(6):  # a new connection each: the workers share them out
        live_app.session().post(
            live_app.url + "/assistant/api/help/", json=_unique(f"metrics {i}"), timeout=10
        )
    # Every worker's counts, whichever worker renders the metrics.
    assert [answered() for _ in range(4)] == [before + 6] * 4


def test_a_waiter_on_the_stream_receives_the_tokens_live(live_app, standin):
    standin.reset(delay=0.25)
    body = _unique("live waiter")
    leader = live_app.session().post(
        live_app.url + "/assistant/api/help/stream/", json=body, stream=True, timeout=10
    )
    raw = b""
    # One iterator kept open: leaving a urllib3 stream early closes its connection, and a
    # leader who hangs up is rightly no longer listened to.
    chunks = leader.raw.stream(64, decode_content=False)
    while b"event: token" not in raw:
        raw += next(chunks)
    # The leader is streaming; a second identical question joins its flight.
    waiter = live_app.session().post(
        live_app.url + "/assistant/api/help/stream/", json=body, stream=True, timeout=10
    )
    raw_w, first_at = _read(waiter)
    raw += b"".join(chunks)
    leader.close()
    waiter.close()
    assert standin.chat_calls == 1
    assert first_at < standin.sent_log[-2][0]
    for stream in (raw, raw_w):
        tokens = [d["text"] for k, d in sse_events(stream) if k == "token"]
        assert "".join(tokens) == "".join(standin.tokens)
