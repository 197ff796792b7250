"""The `openai` backend: canned replies over real sockets (`model_server`), then against
llama-cpp-python's real OpenAI-compatible server (started by the llama_server fixture)."""

import asyncio
import json
import time

import pytest
from asgiref.sync import async_to_sync

from assistant.answering.events import Token, Usage
from assistant.answering.prompt import STOP, Prompt
from assistant.backends import breaker
from assistant.backends.base import BackendBusy, BackendError
from assistant.backends.openai import OpenAIBackend
from assistant.ops import upkeep
from tests.conftest import sse_events

PROMPT = Prompt(system="sys", user="<question>\nhi\n</question>")
from tests.conftest import MODEL_Q as Q  # noqa: E402  (answered by the model in the doc's words)


def _chunk(text: str = "", **extra) -> str:
    delta = {"content": text} if text else {}
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}], **extra}
    return f"data: {json.dumps(body)}\n\n"


def _texts(usage: Usage, prompt: Prompt = PROMPT, into: list | None = None) -> list[str]:
    out = into if into is not None else []

    async def go():
        async for event in OpenAIBackend().stream(prompt, usage):
            if isinstance(event, Token):
                out.append(event.text)

    async_to_sync(go)()
    return out


@pytest.fixture
def remote(settings, model_server):
    """The openai backend pointed at a server of canned replies; its URL."""
    settings.OPENAI_BASE_URL = model_server.url
    settings.OPENAI_MODEL = "smollm2"
    settings.RETRY_BACKOFF_BASE = 0.001
    settings.HELP_OLLAMA_RETRIES = 2
    return model_server.url


@pytest.fixture
def route(model_server):
    """`route(status=…, text=… or json=…)`: every completion answers that."""
    return lambda **response: model_server.reply("/v1/chat/completions", **response)


def test_the_request_and_a_streamed_answer_with_its_usage(remote, settings, route):
    settings.OPENAI_API_KEY = "sk-test-secret"
    usage_chunk = {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}
    replies = route(
        status=200,
        text=": ping\n\n" + _chunk("Hel") + _chunk("lo") + f"data: {json.dumps(usage_chunk)}\n\n"
        "data: [DONE]\n\n",
    )
    usage = Usage()
    assert _texts(usage) == ["Hel", "lo"]
    assert (usage.tokens_in, usage.tokens_out) == (12, 2)
    request = replies.calls[0]
    assert request["headers"]["Authorization"] == "Bearer sk-test-secret"
    sent = request["json"]
    assert sent["model"] == "smollm2" and sent["messages"] == PROMPT.messages
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["stop"] == STOP and sent["max_tokens"] == 256 and sent["temperature"] == 0.2


@pytest.mark.parametrize(
    "status,body,calls,error",
    [
        (500, {"error": {"message": "model crashed"}}, 2, BackendError),
        (400, {"error": {"message": "bad request"}}, 1, BackendError),
        (503, {"error": {"message": "server busy"}}, 1, BackendBusy),
    ],
)
def test_error_replies(remote, route, status, body, calls, error):
    replies = route(status=status, json=body)
    with pytest.raises(error, match=body["error"]["message"]):
        _texts(Usage())
    assert replies.call_count == calls
    expected = "closed" if status == 503 else "open"
    assert breaker.state(f"openai:{remote}")["state"] == expected


def test_a_mid_stream_error_or_a_missing_done_fails_after_the_text_sent(remote, route):
    route(status=200, text=_chunk("A") + 'data: {"error": {"message": "oom"}}\n\n')
    got: list[str] = []
    with pytest.raises(BackendError, match="mid-stream error: oom"):
        _texts(Usage(), into=got)
    assert got == ["A"]
    breaker.success(f"openai:{remote}")  # (the failure opened it)
    route(status=200, text=_chunk("A"))
    with pytest.raises(BackendError, match=r"without \[DONE\]"):
        _texts(Usage())


def test_the_api_key_never_shows(client, settings, remote):
    settings.OPENAI_API_KEY = "sk-never-shown"
    settings.ASSISTANT_BACKENDS = ["openai", "docs"]
    settings.ASSISTANT_METRICS_TOKEN = "t"
    health = client.get("/assistant/api/health/").content.decode()
    assert "openai" in health and "sk-never-shown" not in health
    metrics = client.get("/assistant/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert "sk-never-shown" not in metrics


# --- Against the real server -------------------------------------------------------------


@pytest.mark.django_db
def test_a_streamed_answer_end_to_end_from_the_real_server(ask, openai_chain):
    r = ask(Q, endpoint="help/stream")
    events = [(k, d) for k, d in sse_events(r.streamed) if k != "comment"]
    assert events[0][0] == "meta" and events[-1][0] == "done"
    assert events[0][1]["backend"] == "openai"
    tokens = [d["text"] for k, d in events if k == "token"]
    assert len(tokens) >= 2 and "".join(tokens).strip()
    arrivals = [at for chunk, at in r.chunks if b"event: token" in chunk]
    assert arrivals[0] < arrivals[-1]  # streamed, not delivered at the end


@pytest.mark.django_db
def test_a_reader_who_leaves_stops_the_generation(openai_chain, settings, grounded_prompt):
    settings.OPENAI_OPTIONS = {"temperature": 0.0, "max_tokens": 2000}

    async def leave_after_three_tokens() -> tuple[float, float]:
        stream = OpenAIBackend().stream(grounded_prompt, Usage())
        seen = 0
        async for _event in stream:
            seen += 1
            if seen == 3:
                break
        await stream.aclose()  # the reader left: the connection closes
        # Left generating, 2000 tokens would keep the server busy for half a minute. Stopped,
        # it is idle once its current token is out: its CPU over a second, meanwhile.
        await asyncio.sleep(0.5)
        settled = openai_chain.cpu_seconds()
        await asyncio.sleep(1.0)
        return settled, openai_chain.cpu_seconds()

    started = openai_chain.cpu_seconds()
    settled, later = async_to_sync(leave_after_three_tokens)()
    assert later - settled < 0.2
    assert settled > started  # (it did generate for us)


@pytest.mark.django_db
def test_warm_up_loads_the_model_on_the_real_server(openai_chain):
    before = len(openai_chain.generations())
    report = upkeep.model_warm_up()
    assert report[openai_chain.url] in ("length", "stop")
    assert len(openai_chain.generations()) == before + 1


@pytest.mark.django_db
def test_two_hosts_one_dead(ask, openai_chain, settings):
    dead = "http://127.0.0.1:9"
    settings.OPENAI_BASE_URL = f"{dead},{openai_chain.url}"
    settings.RETRY_BACKOFF_BASE = 0.001
    body = ask(Q).json()
    assert body["backend"] == "openai"
    assert breaker.state(f"openai:{dead}")["state"] == "open"
    assert breaker.state(f"openai:{openai_chain.url}")["state"] == "closed"


@pytest.mark.django_db
def test_the_breaker_opens_when_the_server_dies_and_closes_when_it_is_back(
    ask, demo_docs, model_doc, settings
):
    from tests.conftest import _gguf
    from tests.model_server import LlamaServer

    server = LlamaServer(_gguf())
    try:
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_MODEL = "smollm2"
        settings.OPENAI_OPTIONS = {"temperature": 0.0, "max_tokens": 160}
        settings.ASSISTANT_BACKENDS = ["openai", "docs"]
        settings.BREAKER_BASE_COOLDOWN = 0.5
        settings.RETRY_BACKOFF_BASE = 0.001
        settings.HELP_CACHE_TTL = 0  # every ask reaches the chain
        assert ask(Q).json()["backend"] == "openai"
        server.stop()
        assert ask(Q).json()["backend"] == "docs"
        assert breaker.state(f"openai:{server.url}")["state"] == "open"
        server = LlamaServer(_gguf(), port=server.port)
        time.sleep(0.6)  # the breaker's cooldown (0.5 s) passes
        assert ask(Q).json()["backend"] == "openai"
        assert breaker.state(f"openai:{server.url}")["state"] == "closed"
    finally:
        server.stop()
