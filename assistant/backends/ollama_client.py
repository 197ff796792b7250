"""Ollama's native API (`/api/chat`, NDJSON), over model_http."""

from collections.abc import AsyncIterator
from contextlib import aclosing

from assistant import conf
from assistant.answering.events import Usage
from assistant.answering.prompt import STOP
from assistant.backends.model_http import ModelError, answers, json_line, post_json, stream_lines


def keep_alive() -> str | int:
    """OLLAMA_KEEP_ALIVE as Ollama reads it: a bare number is seconds and must be sent as a
    JSON number ("300" as a string is refused: a duration needs a unit)."""
    value = str(conf.get("OLLAMA_KEEP_ALIVE")).strip()
    return int(value) if value.lstrip("-").isdigit() else value


def chat_body(messages: list[dict], stream: bool = True) -> dict:
    """The request body; options and keep_alive identical on every call, warm-up included."""
    return {
        "model": conf.get("OLLAMA_MODEL"),
        "messages": messages,
        "stream": stream,
        "options": {**conf.get("OLLAMA_OPTIONS"), "stop": STOP},
        "keep_alive": keep_alive(),
    }


async def chat_stream(host: str, messages: list[dict], usage: Usage) -> AsyncIterator[str]:
    """Yield the answer's text chunks from `host`; fill `usage` from the final line. A line
    that is not JSON or carries an error fails the call."""
    done = False
    async with aclosing(stream_lines(f"{host}/api/chat", chat_body(messages))) as lines:
        async for line in lines:
            if done:
                continue
            data = json_line(line)
            text = (data.get("message") or {}).get("content") or ""
            if text:
                yield text
            if data.get("done"):
                done = True
                usage.tokens_in = data.get("prompt_eval_count")
                usage.tokens_out = data.get("eval_count")
    if not done:
        raise ModelError("stream ended without a done line")


def warm_up(host: str) -> dict:
    """Load the model with our options and keep_alive: an empty chat (OLLAMA.md)."""
    return post_json(f"{host}/api/chat", chat_body([]))


def probe(host: str) -> bool:
    """`GET /` answers "Ollama is running"."""
    return answers(f"{host}/")
