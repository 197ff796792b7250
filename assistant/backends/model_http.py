"""HTTP to model servers (Ollama, OpenAI-compatible), shared by their clients: the errors,
the timeouts, the answers' streams over aiohttp (an open stream holds no thread) and one
pooled requests.Session per process for the warm-up and the health probe, which run in Celery
and in the breaker's sync code.

aiohttp rather than httpx for the streams, by measurement: reading 20 to 300 NDJSON streams
at once took 45-50 µs of CPU per line with aiohttp against 110-150 µs with httpx, whose
connection pool is also scanned whole on every request and release.
"""

import json
import threading
from collections.abc import AsyncIterator

import aiohttp
import requests
from aiohttp.http_exceptions import HttpProcessingError
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


def _new_stream_session() -> aiohttp.ClientSession:
    """The event loop's session for the answers' streams. Its connector keeps no connection
    once an answer ends (force_close): nothing to close when a short-lived loop (a Celery
    task's, a test's) is gone, and no kept-alive connection that the server closed meanwhile;
    one TCP connect per answer is nothing next to a generation."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        trust_env=False,  # loopback or the configured hosts only, never a proxy
    )


# A forgotten session is detached: marked closed (it would log "Unclosed client session"),
# its connector, holding no connection, left to the collector.
stream_sessions: PerLoop[aiohttp.ClientSession] = PerLoop(
    _new_stream_session, on_forget=lambda session: session.detach()
)


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
    """Forget the Sessions (after fork, or in tests that change the pool size)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = None
    stream_sessions.reset()


def timeouts() -> tuple[float, float]:
    return float(conf.get("OLLAMA_CONNECT_TIMEOUT")), float(conf.get("HELP_TIMEOUT"))


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


def json_line(line: str | bytes) -> dict:
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
) -> AsyncIterator[bytes]:
    """POST `body` and yield the reply's non-empty lines as they arrive, to the end of the
    reply, on a connection of its own. Closing the generator, or cancelling its task, closes
    the connection, which stops the generation upstream."""
    connect, read = timeouts()
    timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
    try:
        async with stream_sessions.get().post(
            url, json=body, headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise error_of(resp.status, await resp.read())
            async for line in resp.content:
                if line.strip():
                    yield line
    except (aiohttp.ClientError, HttpProcessingError, TimeoutError) as exc:
        raise ModelError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


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
