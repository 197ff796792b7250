"""Any OpenAI-compatible server (`POST {base}/v1/chat/completions`, server-sent events):
llama.cpp's server, vLLM, LM Studio, LocalAI, Ollama's `/v1`. Over model_http."""

from collections.abc import AsyncIterator
from contextlib import aclosing

from assistant import conf
from assistant.answering.events import Usage
from assistant.answering.prompt import STOP
from assistant.backends.model_http import ModelError, answers, json_line, post_json, stream_lines


def _headers() -> dict:
    key = str(conf.get("OPENAI_API_KEY") or "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def chat_body(messages: list[dict], stream: bool = True) -> dict:
    """The request body; options identical on every call, warm-up included."""
    body = {
        "model": conf.get("OPENAI_MODEL"),
        "messages": messages,
        "stream": stream,
        **conf.get("OPENAI_OPTIONS"),
        "stop": STOP,
    }
    if stream:  # token counts in a last chunk, where the server supports it
        body["stream_options"] = {"include_usage": True}
    return body


async def chat_stream(host: str, messages: list[dict], usage: Usage) -> AsyncIterator[str]:
    """Yield the answer's text chunks from `host`; fill `usage` when the server reports it.
    A chunk that is not JSON or carries an error fails the call; so does a stream without
    its `[DONE]`."""
    done = False
    url = f"{host}/v1/chat/completions"
    async with aclosing(stream_lines(url, chat_body(messages), _headers())) as lines:
        async for line in lines:
            if done or not line.startswith(b"data:"):
                continue  # SSE comments and other fields
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            data = json_line(payload)
            for choice in data.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    yield text
            if data.get("usage"):
                usage.tokens_in = data["usage"].get("prompt_tokens")
                usage.tokens_out = data["usage"].get("completion_tokens")
    if not done:
        raise ModelError("stream ended without [DONE]")


def warm_up(host: str) -> dict:
    """Load the model (servers that load lazily) with a one-token completion."""
    body = {**chat_body([{"role": "user", "content": "hi"}], stream=False), "max_tokens": 1}
    reply = post_json(f"{host}/v1/chat/completions", body, _headers())
    return {"done_reason": (reply.get("choices") or [{}])[0].get("finish_reason") or "ok"}


def probe(host: str) -> bool:
    """`GET /v1/models` answers 200."""
    return answers(f"{host}/v1/models", _headers())
