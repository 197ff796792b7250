"""Ollama's native API. Answers stream over an async client (httpx: an open stream holds no
thread), one pool per event loop; the warm-up and the health probe, which run in Celery and in
the breaker's sync code, use one pooled requests.Session per process."""

import json
import threading
from collections.abc import AsyncIterator

import httpx
import requests
from requests.adapters import HTTPAdapter

from . import conf
from .aio import PerLoop
from .answering.events import Usage
from .prompt import STOP


class OllamaError(Exception):
    """A failed call. `retryable` is False for answers that a retry would not change."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class OllamaBusy(OllamaError):
    """503: the server's queue is full. Busy, not broken: the next host, no breaker failure."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


def _new_client() -> httpx.AsyncClient:
    size = int(conf.get("HELP_HTTP_POOL_SIZE")) * max(1, len(conf.ollama_hosts()))
    return httpx.AsyncClient(
        # How many generations run at once is the admission's cap; the pool only keeps
        # HELP_HTTP_POOL_SIZE idle connections per host for reuse.
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=size),
        trust_env=False,  # loopback or the configured hosts only, never a proxy
    )


clients: PerLoop[httpx.AsyncClient] = PerLoop(_new_client)


_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """The process's one Session: a keep-alive pool of HELP_HTTP_POOL_SIZE per host."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                s = requests.Session()
                size = int(conf.get("HELP_HTTP_POOL_SIZE"))
                adapter = HTTPAdapter(pool_connections=8, pool_maxsize=size, max_retries=0)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                s.trust_env = False  # loopback or the configured hosts only, never a proxy
                _session = s
    return _session


def reset_session() -> None:
    """Forget the Session (after fork, or in tests that change the pool size)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = None
    clients.reset()


def _timeouts() -> tuple[float, float]:
    return float(conf.get("OLLAMA_CONNECT_TIMEOUT")), float(conf.get("HELP_TIMEOUT"))


def _async_timeout() -> httpx.Timeout:
    connect, read = _timeouts()
    return httpx.Timeout(read, connect=connect)


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


def _error_of(status: int, body: bytes) -> OllamaError:
    try:
        message = json.loads(body).get("error", "")
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    if status == 503:
        return OllamaBusy(f"HTTP 503: {message}")
    # 400/404: bad request or missing model, a retry gives the same answer.
    return OllamaError(f"HTTP {status}: {message}", retryable=status >= 500)


def _line_of(line: str) -> dict:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise OllamaError(f"not JSON: {line[:80]!r}") from exc
    if not isinstance(data, dict):
        raise OllamaError(f"not an object: {line[:80]!r}")
    if "error" in data:
        raise OllamaError(f"mid-stream error: {data['error']}")
    return data


async def chat_stream(host: str, messages: list[dict], usage: Usage) -> AsyncIterator[str]:
    """Yield the answer's text chunks from `host`; fill `usage` from the final line.

    A mid-stream `{"error": …}` line or a line that is not JSON fails the call. Closing the
    generator (or cancelling its task) closes the connection, which stops the generation
    upstream.
    """
    try:
        async with clients.get().stream(
            "POST", f"{host}/api/chat", json=chat_body(messages), timeout=_async_timeout()
        ) as resp:
            if resp.status_code != 200:
                raise _error_of(resp.status_code, await resp.aread())
            done = False
            # Read to the end of the stream even after the done line: a fully read response
            # goes back to the pool, a half-read one would cost a new connection next time.
            async for line in resp.aiter_lines():
                if done or not line.strip():
                    continue
                data = _line_of(line)
                text = (data.get("message") or {}).get("content") or ""
                if text:
                    yield text
                if data.get("done"):
                    done = True
                    usage.tokens_in = data.get("prompt_eval_count")
                    usage.tokens_out = data.get("eval_count")
            if not done:
                raise OllamaError("stream ended without a done line")
    except httpx.HTTPError as exc:
        raise OllamaError(f"{type(exc).__name__}: {exc}") from exc


def warm_up(host: str) -> dict:
    """Load the model with our options and keep_alive: an empty chat (OLLAMA.md)."""
    try:
        resp = session().post(f"{host}/api/chat", json=chat_body([]), timeout=_timeouts())
    except requests.RequestException as exc:
        raise OllamaError(f"{type(exc).__name__}: {exc}") from exc
    with resp:
        if resp.status_code != 200:
            raise _error_of(resp.status_code, resp.content)
        try:
            return resp.json()
        except ValueError as exc:
            raise OllamaError("warm-up reply is not JSON") from exc


def probe(host: str) -> bool:
    """The cheapest health check: `GET /` answers "Ollama is running"."""
    try:
        with session().get(f"{host}/", timeout=(float(conf.get("OLLAMA_CONNECT_TIMEOUT")), 2)) as r:
            return r.status_code == 200
    except requests.RequestException:
        return False
