"""POST /assistant/api/help/stream/: event order, headers, live tokens, errors, limits."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from tests.conftest import sse_events
from tests.ollama_standin import SENTENCES

pytestmark = pytest.mark.django_db

Q = {"question": "How do I add a new customer?", "path": "/clients/", "hints": "Clients"}


def _stream(ask, body=Q, **extra):
    r = ask(body, endpoint="help/stream", **extra)
    assert r.status_code == 200, r.content
    return r, sse_events(r.streamed)


def _kinds(events):
    return [k for k, _ in events if k != "comment"]


@pytest.mark.parametrize("gzip", [False, True])
def test_event_order_headers_and_no_gzip(ask, ollama, gzip):
    extra = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"} if gzip else {}
    r, events = _stream(ask, **extra)
    assert r["Content-Type"] == "text/event-stream"
    assert r["Cache-Control"] == "no-cache, no-transform"
    assert r["X-Accel-Buffering"] == "no"
    assert not r.has_header("Content-Encoding")
    assert events[0][0] == "comment"  # goes out before anything else
    # The guard lets text out a checked sentence at a time.
    assert _kinds(events) == ["meta"] + ["token"] * SENTENCES + ["done"]
    meta, done = events[1][1], events[-1][1]
    assert meta["backend"] == "ollama" and meta["cached"] is False
    assert set(meta) == {
        "id", "sources", "cached", "backend", "model", "covered", "coverage", "resolved"
    }  # fmt: skip
    assert set(done) == {"id", "latency_ms", "ttft_ms"} and done["id"] == meta["id"]
    assert "".join(d["text"] for k, d in events if k == "token") == "".join(ollama.tokens)


def test_first_token_is_yielded_before_the_model_sends_its_last(ask, ollama):
    ollama.reset(delay=0.15)
    r = ask(Q, endpoint="help/stream", HTTP_ACCEPT_ENCODING="gzip")
    first_token_at = next(at for chunk, at in r.chunks if b"event: token" in chunk)
    last_sent_at = ollama.sent_log[-2][0]  # the last token line (the final line is "done")
    assert first_token_at is not None and first_token_at < last_sent_at


def test_docs_backend_streams_too(ask, demo_docs):
    _, events = _stream(ask)
    assert _kinds(events)[0] == "meta" and _kinds(events)[-1] == "done"
    assert events[1][1]["backend"] == "docs"
    assert len([k for k in _kinds(events) if k == "token"]) > 1


def test_mid_stream_error_after_a_sentence_ends_with_error_no_repeat(ask, ollama):
    ollama.reset(mode="midstream_error", error_after=8)  # one sentence and two words out
    _, events = _stream(ask)
    assert _kinds(events) == ["meta", "token", "error"]
    assert events[-1][1]["code"] == "upstream_error"
    assert "".join(d["text"] for k, d in events if k == "token") == (
        "Open **Clients** and click **New client**. "
    )
    assert ollama.chat_calls == 1


def test_mid_stream_error_before_a_checked_sentence_answers_from_the_docs(ask, ollama):
    ollama.reset(mode="midstream_error", error_after=2)  # nothing reached the reader
    _, events = _stream(ask)
    assert _kinds(events)[0] == "meta" and _kinds(events)[-1] == "done"
    assert events[1][1]["backend"] == "docs"
    assert "New client" in "".join(d["text"] for k, d in events if k == "token")
    assert ollama.chat_calls == 1


def test_cached_answer_streams_meta_one_token_done(ask, ollama):
    _stream(ask)
    _, events = _stream(ask, {**Q, "question": "how do i add a NEW customer"})
    assert _kinds(events) == ["meta", "token", "done"]
    assert events[1][1]["cached"] is True
    assert events[2][1]["text"] == "".join(ollama.tokens)
    assert ollama.chat_calls == 1


def test_the_answer_is_logged_before_its_reader_sees_done(ollama):
    """A reader may vote on an answer, or the widget report a replay of it, the moment `done`
    arrives: by then the answer's row must be there, whatever the server does after."""
    from assistant.models import QueryLog, QueryStatus

    async def read_to_done():
        r = await AsyncClient().post(
            "/assistant/api/help/stream/", Q, content_type="application/json"
        )
        body = aiter(r.streaming_content)
        seen = b""
        while b"event: done" not in seen:  # the body is left waiting right after `done`
            seen += await anext(body)
        answer_id = dict(sse_events(seen))["meta"]["id"]
        row = await sync_to_async(QueryLog.objects.filter(id=answer_id).first)()
        async for _ in body:  # then read to its end
            pass
        return row

    row = async_to_sync(read_to_done)()
    assert row is not None and row.status == QueryStatus.OK and row.path == Q["path"]
    assert QueryLog.objects.count() == 1  # logged once, though the body ended after


def test_comment_lines_keep_the_stream_open_before_the_first_token(ask, ollama, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.1
    ollama.reset(first_delay=0.6)
    _, events = _stream(ask)
    before_meta = events[: [k for k, _ in events].index("meta")]
    assert len(before_meta) >= 3 and all(k == "comment" for k, _ in before_meta)


def test_rate_limit_counts_model_calls_only_and_says_when_to_retry(ask, ollama, settings):
    settings.HELP_RATE_LIMIT = "2/60"
    for q in ("add a client", "export invoices"):
        assert ask({**Q, "question": q}).status_code == 200
    assert ask({**Q, "question": "Export invoices?"}).json()["cached"] is True  # free
    # A question no doc covers makes no model call: free too.
    assert ask({**Q, "question": "weather tomorrow"}).json()["covered"] is False
    for endpoint in ("help", "help/stream"):
        r = ask({**Q, "question": "make an invoice"}, endpoint=endpoint)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r["Retry-After"]) <= 60
    assert ollama.chat_calls == 2


def test_rate_limit_is_per_visitor(ask, ollama, settings):
    settings.HELP_RATE_LIMIT = "1/60"
    assert ask({**Q, "question": "add a client"}).status_code == 200
    assert ask({**Q, "question": "export invoices"}).status_code == 429
    assert ask({**Q, "question": "export invoices"}, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_health_reports_breakers_and_cache(client, ollama, settings):
    settings.ASSISTANT_BACKENDS = ["ollama", "embedded", "docs"]
    body = client.get("/assistant/api/health/").json()
    assert body["status"] == "ok"
    assert body["backends"]["ollama"]["hosts"][ollama.url]["state"] == "closed"
    assert body["backends"]["embedded"]["breaker"]["state"] == "closed"
    assert body["cache"]["ok"] is True
    ollama.reset(mode="error500")
    settings.RETRY_BACKOFF_BASE = 0.001
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    client.post("/assistant/api/help/", Q, content_type="application/json")
    body = client.get("/assistant/api/health/").json()
    assert body["status"] == "degraded"
    assert body["backends"]["ollama"]["hosts"][ollama.url]["state"] == "open"
    assert client.get("/assistant/api/health/").status_code == 200  # docs can still answer
