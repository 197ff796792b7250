"""The Ollama client and backend: unit tests with `responses`, then over real sockets."""

import json
import threading
import time

import pytest
import responses

from assistant import breaker, conf, ollama_client
from assistant.backends import generate
from assistant.backends.base import BackendError
from assistant.backends.ollama import OllamaBackend
from assistant.prompt import STOP, Prompt
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


def _run(settings, hosts=HOST):
    settings.OLLAMA_URL = hosts
    usage: dict = {}
    return list(OllamaBackend().stream(PROMPT, usage, threading.Event())), usage


@pytest.fixture
def fast(settings):
    settings.RETRY_BACKOFF_BASE = 0.001
    settings.HELP_OLLAMA_RETRIES = 2


@responses.activate
def test_body_has_model_options_keep_alive_and_messages(settings, fast):
    settings.OLLAMA_MODEL = "qwen2.5:1.5b-instruct"
    settings.OLLAMA_KEEP_ALIVE = "7m"
    responses.post(
        f"{HOST}/api/chat", body=_line("Hi") + _line(done=True, eval_count=1, prompt_eval_count=9)
    )
    chunks, usage = _run(settings)
    assert chunks == ["Hi"]
    assert usage["tokens_in"] == 9 and usage["tokens_out"] == 1
    sent = json.loads(responses.calls[0].request.body)
    assert sent["model"] == "qwen2.5:1.5b-instruct"
    assert sent["keep_alive"] == "7m"
    assert sent["stream"] is True
    assert sent["options"] == {**conf.get("OLLAMA_OPTIONS"), "stop": STOP}
    assert set(sent["options"]) >= {"num_ctx", "temperature", "num_predict"}
    assert sent["messages"] == PROMPT.messages


@responses.activate
@pytest.mark.parametrize("status,calls", [(500, 2), (503, 2), (404, 1), (400, 1)])
def test_error_statuses_retry_only_when_a_retry_can_help(settings, fast, status, calls):
    responses.post(f"{HOST}/api/chat", json={"error": "x"}, status=status)
    with pytest.raises(BackendError, match=f"HTTP {status}"):
        _run(settings)
    assert len(responses.calls) == calls


@responses.activate
def test_mid_stream_error_line_fails_the_call_after_its_tokens(settings, fast):
    settings.OLLAMA_URL = HOST
    responses.post(f"{HOST}/api/chat", body=_line("A") + json.dumps({"error": "boom"}) + "\n")
    got = []
    with pytest.raises(BackendError, match="mid-stream error: boom"):
        for chunk in OllamaBackend().stream(PROMPT, {}, threading.Event()):
            got.append(chunk)
    assert got == ["A"]
    assert len(responses.calls) == 1  # text reached the user: no retry


@responses.activate
def test_garbage_line_is_a_failure_not_text(settings, fast):
    responses.post(f"{HOST}/api/chat", body="<html>oops</html>\n")
    with pytest.raises(BackendError, match="not JSON"):
        _run(settings)
    assert len(responses.calls) == 2  # nothing was sent yet: retried


@responses.activate
def test_stream_without_done_line_is_a_failure(settings, fast):
    responses.post(f"{HOST}/api/chat", body=_line("A"))
    with pytest.raises(BackendError, match="without a done line"):
        _run(settings)


@responses.activate
def test_next_host_is_tried_when_one_fails(settings, fast):
    other = "http://second.test:11434"
    responses.post(f"{HOST}/api/chat", status=500, json={"error": "x"})
    responses.post(f"{other}/api/chat", body=_line("ok") + _line(done=True))
    chunks, _ = _run(settings, hosts=f"{HOST}, {other}")
    assert chunks == ["ok"]
    assert breaker.state(f"ollama:{HOST}")["state"] == "open"
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
    usage: dict = {}
    return "".join(OllamaBackend().stream(PROMPT, usage, threading.Event())), usage


def test_sequential_calls_reuse_one_tcp_connection(ollama):
    for _ in range(5):
        text, _ = _ask_backend()
        assert text == "".join(GROUNDED_TOKENS)
    assert ollama.chat_calls == 5
    assert ollama.connections == 1


def test_pool_size_setting_reaches_the_adapter(settings):
    settings.HELP_HTTP_POOL_SIZE = 7
    ollama_client.reset_session()
    adapter = ollama_client.session().get_adapter("http://127.0.0.1:1/")
    assert adapter._pool_maxsize == 7
    assert ollama_client.session() is ollama_client.session()


def test_hanging_model_moves_to_next_backend_within_timeout_times_attempts(
    grounded_prompt, ollama, settings
):
    ollama.reset(mode="hang")
    settings.HELP_TIMEOUT = 0.5
    settings.HELP_OLLAMA_RETRIES = 2
    settings.RETRY_BACKOFF_BASE = 0.01
    started = time.monotonic()
    events = list(generate(grounded_prompt, threading.Event()))
    elapsed = time.monotonic() - started
    assert ("start", {"backend": "docs", "model": "docs"}) in events
    assert ollama.chat_calls == 2
    assert elapsed < 0.5 * 2 + 0.01 + 1.0


@pytest.mark.parametrize(
    "mode,calls", [("error500", 2), ("busy503", 2), ("missing404", 1), ("garbage", 1)]
)
def test_failures_of_the_standin_fall_through_to_docs(
    grounded_prompt, ollama, settings, mode, calls
):
    ollama.reset(mode=mode)
    settings.RETRY_BACKOFF_BASE = 0.01
    events = list(generate(grounded_prompt, threading.Event()))
    kinds = [k for k, _ in events if k not in ("trying",)]
    # (garbage: one token came before it, but no checked sentence reached the reader)
    assert kinds[:2] == ["start", "token"] and kinds[-1] == "end"
    assert [d for k, d in events if k == "start"][0]["backend"] == "docs"
    assert ollama.chat_calls == calls


@pytest.mark.parametrize("value,sent", [("5m", "5m"), ("300", 300), ("-1", -1), ("0", 0)])
def test_keep_alive_numbers_are_sent_as_numbers(settings, value, sent):
    settings.OLLAMA_KEEP_ALIVE = value
    assert ollama_client.chat_body([])["keep_alive"] == sent
