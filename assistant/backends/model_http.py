"""HTTP to model servers (Ollama, OpenAI-compatible), shared by their clients: the errors,
the timeouts, one async client per event loop for the answers (httpx: an open stream holds no
thread) and one pooled requests.Session per process for the warm-up and the health probe,
which run in Celery and in the breaker's sync code."""

import json
import threading
from collections.abc import AsyncIterator

import httpx
import requests
from requests.adapters import HTTPAdapter

from assistant import conf
from assistant.runtime.aio import PerLoop


class ModelError(Exception):
    """A failed call. `retryable` is False for answers that a retry would not change."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class ModelBusy(ModelError):
    """503: the server's queue is full. Busy, not broken: the next host, no breaker failure."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


def _new_client() -> httpx.AsyncClient:
    size = int(conf.get("HELP_HTTP_POOL_SIZE")) * max(1, len(conf.model_hosts()))
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


def timeouts() -> tuple[float, float]:
    return float(conf.get("OLLAMA_CONNECT_TIMEOUT")), float(conf.get("HELP_TIMEOUT"))


def async_timeout() -> httpx.Timeout:
    connect, read = timeouts()
    return httpx.Timeout(read, connect=connect)


def error_of(status: int, body: bytes) -> ModelError:
    try:
        message = json.loads(body).get("error", "")
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    if isinstance(message, dict):  # OpenAI's shape: {"error": {"message": …}}
        message = message.get("message", "")
    if status == 503:
        return ModelBusy(f"HTTP 503: {message}")
    # 400/404: bad request or missing model, a retry gives the same answer.
    return ModelError(f"HTTP {status}: {message}", retryable=status >= 500)


def json_line(line: str) -> dict:
    """One line of a model's stream as a JSON object; a mid-stream `{"error": …}` fails."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ModelError(f"not JSON: {line[:80]!r}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"not an object: {line[:80]!r}")
    if data.get("error"):
        error = data["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ModelError(f"mid-stream error: {message}")
    return data


async def stream_lines(
    url: str, body: dict, headers: dict | None = None
) -> AsyncIterator[str]:
    """POST `body` and yield the reply's non-empty lines as they arrive, to the end of the
    reply (a fully read response goes back to the pool, a half-read one would cost a new
    connection next time). Closing the generator, or cancelling its task, closes the
    connection, which stops the generation upstream."""
    try:
        async with clients.get().stream(
            "POST", url, json=body, headers=headers, timeout=async_timeout()
        ) as resp:
            if resp.status_code != 200:
                raise error_of(resp.status_code, await resp.aread())
            async for line in resp.aiter_lines():
                if line.strip():
                    yield line
    except httpx.HTTPError as exc:
        raise ModelError(f"{type(exc).__name__}: {exc}") from exc


def post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    """A one-shot call (warm-up), sync."""
    try:
        resp = session().post(url, json=body, headers=headers, timeout=timeouts())
    except requests.RequestException as exc:
        raise ModelError(f"{type(exc).__name__}: {exc}") from exc
    with resp:
        if resp.status_code != 200:
            raise error_of(resp.status_code, resp.content)
        try:
            return resp.json()
        except ValueError as exc:
            raise ModelError("the reply is not JSON") from exc


def answers(url: str, headers: dict | None = None) -> bool:
    """The cheapest health probe: does GET `url` answer 200 quickly?"""
    connect = float(conf.get("OLLAMA_CONNECT_TIMEOUT"))
    try:
        with session().get(url, headers=headers, timeout=(connect, 2)) as r:
            return r.status_code == 200
    except requests.RequestException:
        return False
