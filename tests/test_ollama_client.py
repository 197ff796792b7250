"""The Ollama client and backend: canned replies over real sockets (the answers, over aiohttp:
the `model_server` fixture) and `responses` (warm-up, over requests), then the stand-in."""

import json
import time

import pytest
import responses
from asgiref.sync import async_to_sync

from assistant import conf
from assistant.answering.events import Done, Meta, Token, Usage
from assistant.answering.prompt import STOP, Prompt
from assistant.backends import breaker, generate, model_http, ollama_client
from assistant.backends.base import BackendBusy, BackendError
from assistant.backends.ollama import OllamaBackend
from tests.conftest import collect
from tests.ollama_standin import GROUNDED_TOKENS

HOST = "http://ollama.test:11434"
PROMPT = Prompt(system="sys", user="<question>\nhi\n</question>")


def _line(content="", done=False, **extra) -> str:
    return (
        json.dumps(
            {
                "model": "m",
                "created_at": "t",
                "message": {"role": "assistant", "content": content},
                "done": done,
                **extra,
            }
        )
        + "\n"
    )


def _texts(usage: Usage, into: list | None = None) -> list[str]:
    """The backend's text chunks; `into` receives them as they come (kept on a failure)."""
    out = into if into is not None else []

    async def go():
        async for event in OllamaBackend().stream(PROMPT, usage):
            out.append(event.text)

    async_to_sync(go)()
    return out


def _run(settings, hosts: str):
    settings.OLLAMA_URL = hosts
    usage = Usage()
    return _texts(usage), usage


def _chat(server, **response):
    """Every chat `server` receives answers `response` (status, text or json)."""
    return server.reply("/api/chat", **response)


@pytest.fixture
def fast(settings):
    settings.RETRY_BACKOFF_BASE = 0.001
    settings.HELP_OLLAMA_RETRIES = 2


def test_body_has_model_options_keep_alive_and_messages(settings, fast, model_server):
    settings.OLLAMA_MODEL = "qwen2.5:1.5b-instruct"
    settings.OLLAMA_KEEP_ALIVE = "7m"
    route = _chat(
        model_server,
        status=200,
        text=_line("Hi") + _line(done=True, eval_count=1, prompt_eval_count=9),
    )
    chunks, usage = _run(settings, model_server.url)
    assert chunks == ["Hi"]
    assert usage.tokens_in == 9 and usage.tokens_out == 1
    sent = route.calls[0]["json"]
    assert sent["model"] == "qwen2.5:1.5b-instruct"
    assert sent["keep_alive"] == "7m"
    assert sent["stream"] is True
    assert sent["options"] == {**conf.get("OLLAMA_OPTIONS"), "stop": STOP}
    assert set(sent["options"]) >= {"num_ctx", "temperature", "num_predict"}
    assert sent["messages"] == PROMPT.messages


@pytest.mark.parametrize("status,calls", [(500, 2), (404, 1), (400, 1)])
def test_error_statuses_retry_only_when_a_retry_can_help(
    settings, fast, model_server, status, calls
):
    route = _chat(model_server, status=status, json={"error": "x"})
    with pytest.raises(BackendError, match=f"HTTP {status}"):
        _run(settings, model_server.url)
    assert route.call_count == calls
    assert breaker.state(f"ollama:{model_server.url}")["state"] == "open"


def test_503_is_busy_no_retry_no_breaker_failure(settings, fast, model_server):
    route = _chat(model_server, status=503, json={"error": "server busy, please try again."})
    with pytest.raises(BackendBusy, match="HTTP 503"):
        _run(settings, model_server.url)
    assert route.call_count == 1
    assert breaker.state(f"ollama:{model_server.url}")["state"] == "closed"


def test_mid_stream_error_line_fails_the_call_after_its_tokens(settings, fast, model_server):
    settings.OLLAMA_URL = model_server.url
    route = _chat(model_server, text=_line("A") + json.dumps({"error": "boom"}) + "\n")
    got: list[str] = []
    with pytest.raises(BackendError, match="mid-stream error: boom"):
        _texts(Usage(), into=got)
    assert got == ["A"]
    assert route.call_count == 1  # text reached the user: no retry


def test_garbage_line_is_a_failure_not_text(settings, fast, model_server):
    route = _chat(model_server, text="<html>oops</html>\n")
    with pytest.raises(BackendError, match="not JSON"):
        _run(settings, model_server.url)
    assert route.call_count == 2  # nothing was sent yet: retried


def test_stream_without_done_line_is_a_failure(settings, fast, model_server):
    _chat(model_server, text=_line("A"))
    with pytest.raises(BackendError, match="without a done line"):
        _run(settings, model_server.url)


@pytest.mark.parametrize("status", [500, 503])
def test_next_host_is_tried_when_one_fails_or_is_busy(
    settings, fast, model_server, second_model_server, status
):
    first, other = model_server.url, second_model_server.url
    _chat(model_server, status=status, json={"error": "x"})
    _chat(second_model_server, text=_line("ok") + _line(done=True))
    chunks, _ = _run(settings, hosts=f"{first}, {other}")
    assert chunks == ["ok"]
    assert breaker.state(f"ollama:{first}")["state"] == ("open" if status == 500 else "closed")
    assert breaker.state(f"ollama:{other}")["state"] == "closed"


@responses.activate
def test_warm_up_sends_empty_messages_and_reads_one_object(settings):
    settings.OLLAMA_KEEP_ALIVE = "5m"
    responses.post(
        f"{HOST}/api/chat",
        json={
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "load",
        },
    )
    assert ollama_client.warm_up(HOST)["done_reason"] == "load"
    sent = json.loads(responses.calls[0].request.body)
    assert sent["messages"] == [] and sent["keep_alive"] == "5m"


# --- Over real sockets, against the stand-in ----------------------------------------------


def _ask_backend():
    usage = Usage()
    return "".join(_texts(usage)), usage


def test_the_stand_in_answer_arrives_whole_with_its_usage(ollama):
    text, usage = _ask_backend()
    assert text == "".join(GROUNDED_TOKENS)
    assert usage.tokens_out == len(GROUNDED_TOKENS) and usage.tokens_in == 11


def test_each_answer_has_a_connection_of_its_own(ollama):
    """Closed with its answer: no kept-alive connection that Ollama may close meanwhile."""

    async def five():
        for _ in range(5):
            async for _event in OllamaBackend().stream(PROMPT, Usage()):
                pass

    async_to_sync(five)()
    assert ollama.chat_calls == 5
    assert ollama.connections == 5


def test_short_lived_event_loops_leave_no_session_behind(ollama, caplog):
    """A Celery task runs its answers in an event loop of its own each time: the sessions of
    closed loops are let go (a worker's memory stays flat), quietly (asyncio logs an unclosed
    aiohttp session as an error)."""
    import gc

    async def one():
        async for _event in OllamaBackend().stream(PROMPT, Usage()):
            pass

    for _ in range(3):
        async_to_sync(one)()
    assert len(model_http.stream_sessions._by_loop) == 1  # the last loop's, not yet forgotten
    model_http.stream_sessions.reset()
    gc.collect()
    assert ollama.chat_calls == 3
    assert "Unclosed" not in caplog.text


def test_pool_size_setting_reaches_the_adapter(settings):
    settings.HELP_HTTP_POOL_SIZE = 7
    model_http.reset_session()
    adapter = model_http.session().get_adapter("http://127.0.0.1:1/")
    assert adapter._pool_maxsize == 7
    assert model_http.session() is model_http.session()


def test_hanging_model_moves_to_next_backend_within_timeout_times_attempts(
    grounded_prompt, ollama, settings
):
    ollama.reset(mode="hang")
    settings.HELP_TIMEOUT = 0.5
    settings.HELP_OLLAMA_RETRIES = 2
    settings.RETRY_BACKOFF_BASE = 0.01
    started = time.monotonic()
    events = collect(generate(grounded_prompt))
    elapsed = time.monotonic() - started
    assert [e.backend for e in events if isinstance(e, Meta)] == ["docs"]
    assert ollama.chat_calls == 2
    assert elapsed < 0.5 * 2 + 0.01 + 1.0


@pytest.mark.parametrize(
    "mode,calls", [("error500", 2), ("busy503", 1), ("missing404", 1), ("garbage", 1)]
)
def test_failures_of_the_standin_fall_through_to_docs(
    grounded_prompt, ollama, settings, mode, calls
):
    ollama.reset(mode=mode)
    settings.RETRY_BACKOFF_BASE = 0.01
    events = collect(generate(grounded_prompt))
    # (garbage: one token came before it, but no checked sentence reached the reader)
    assert [type(e) for e in events[:2]] == [Meta, Token] and isinstance(events[-1], Done)
    assert events[0].backend == "docs"
    assert ollama.chat_calls == calls
    host_state = breaker.state(f"ollama:{ollama.url}")["state"]
    assert host_state == ("closed" if mode == "busy503" else "open")


@pytest.mark.parametrize("value,sent", [("5m", "5m"), ("300", 300), ("-1", -1), ("0", 0)])
def test_keep_alive_numbers_are_sent_as_numbers(settings, value, sent):
    settings.OLLAMA_KEEP_ALIVE = value
    assert ollama_client.chat_body([])["keep_alive"] == sent


def test_retries_back_off_doubling_from_the_base(settings, monkeypatch, model_server):
    """Three attempts at a failing host wait RETRY_BACKOFF_BASE, then twice that (the waits
    are recorded, not slept: asyncio.sleep is replaced for the test)."""
    import asyncio

    waits: list[float] = []

    async def recorded_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    settings.RETRY_BACKOFF_BASE = 0.25
    settings.HELP_OLLAMA_RETRIES = 3
    route = _chat(model_server, status=500, json={"error": "x"})
    with pytest.raises(BackendError):
        _run(settings, model_server.url)
    assert route.call_count == 3
    assert waits == [0.25, 0.5]
