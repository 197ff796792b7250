"""The assistant's settings in one place: each default is here, and nowhere else.

helpdesk/settings.py reads the environment once: `from_environment` turns the variables named
like these settings into typed values. `get` then answers from django.conf.settings (the
environment, or a test's override) and falls back to these defaults.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "HELP_CACHE_TTL": 300,
    "HELP_TIMEOUT": 12.0,
    "OLLAMA_CONNECT_TIMEOUT": 2.0,
    "HELP_OLLAMA_RETRIES": 2,
    "HELP_HTTP_POOL_SIZE": 20,
    "HELP_MAX_HINTS_CHARS": 400,
    "HELP_MAX_DOCS_CHARS": 600,
    "HELP_MAX_QUESTION_CHARS": 500,
    "OLLAMA_URL": "http://127.0.0.1:11434",
    "OLLAMA_MODEL": "qwen2.5:1.5b-instruct",
    "OLLAMA_KEEP_ALIVE": "5m",
    # The fallback chain, tried in order.
    "ASSISTANT_BACKENDS": ["ollama", "embedded", "docs"],
    "ASSISTANT_EMBEDDED_MODEL": "",
    "HELP_RATE_LIMIT": "10/60",
    # Widget-hit reports per visitor per window: the widget sends at most one per 5 s.
    "HELP_HITS_RATE_LIMIT": "12/60",
    # Bearer token for /assistant/metrics (staff sessions need none).
    "ASSISTANT_METRICS_TOKEN": "",
    "HELP_LOG_RETENTION_DAYS": 90,
    # Query log rows are written in batches this often (0: inline, with each request).
    "HELP_LOG_BATCH_SECONDS": 0.2,
    # Rows one process keeps while the database can't be written (about 2.4 KB each); past
    # it the oldest are dropped (counted: helpdesk_querylog_rows_dropped_total).
    "HELP_LOG_MAX_PENDING": 10_000,
    # Proxies in front of the app whose X-Forwarded-For gives the reader's IP (rate limits).
    "HELP_TRUSTED_PROXY_HOPS": 0,
    # Fixed per model, warm-up included: Ollama reloads a model when options change.
    "OLLAMA_OPTIONS": {"num_ctx": 2048, "temperature": 0.2, "num_predict": 256},
    # A 135M model loops without a repeat penalty. (Stop sequences: prompt.STOP, for all.)
    "EMBEDDED_OPTIONS": {
        "n_ctx": 2048,
        "temperature": 0.2,
        "max_tokens": 160,
        "repeat_penalty": 1.2,
    },
    # How long a request waits for the embedded model's lock before moving on.
    "EMBEDDED_LOCK_WAIT": 1.0,
    # Circuit breaker cooldowns: 30 s doubling up to 300 s.
    "BREAKER_BASE_COOLDOWN": 30.0,
    "BREAKER_MAX_COOLDOWN": 300.0,
    # A comment line goes out this often before the first token.
    "SSE_HEARTBEAT_SECONDS": 10.0,
    "RETRY_BACKOFF_BASE": 0.2,
    # The `openai` backend: any OpenAI-compatible server (the key is sent, never logged).
    "OPENAI_BASE_URL": "",
    "OPENAI_MODEL": "",
    "OPENAI_API_KEY": "",
    # Fixed per model, like Ollama's (warm-up included).
    "OPENAI_OPTIONS": {"temperature": 0.2, "max_tokens": 256},
    # Capacity: generations per model host at once (all workers), the queue in front of
    # them, and the answer streams one worker keeps open.
    "HELP_OLLAMA_PARALLEL": 4,
    "HELP_QUEUE_WAIT": 8.0,
    "HELP_QUEUE_MAX": 64,
    "HELP_MAX_STREAMS": 1000,
    # The largest Markdown file an import reads (and a zip member it unpacks).
    "HELP_IMPORT_MAX_BYTES": 1_000_000,
    # Meaning where words fail: the in-process embedding model ("local") or words alone ("off").
    "HELP_EMBEDDINGS": "local",
    # Without a Celery worker (no broker, or tasks run eagerly as under `make run`), the
    # sections' embeddings are computed by a thread of the process that asked (on), or inline
    # where they are asked for (off: the tests, for deterministic results).
    "HELP_EMBED_IN_THREAD": True,
}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return type(default)(raw)


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets, typed like their defaults (a list from a comma
    separated value); an empty variable leaves a number at its default. Structured ones (the
    model options) are set in settings only."""
    return {
        name: _parse(environ[name], default)
        for name, default in DEFAULTS.items()
        if name in environ
        and not isinstance(default, dict)
        and (isinstance(default, str) or environ[name].strip())
    }


def get(name: str) -> Any:
    """The setting `name`: from django.conf.settings when set there, else DEFAULTS."""
    return getattr(settings, name, DEFAULTS[name])


def hosts_of(name: str) -> list[str]:
    """A comma-separated list of base URLs (OLLAMA_URL, OPENAI_BASE_URL), without trailing
    slashes (and without a trailing /v1: the client adds it)."""
    out = []
    for host in str(get(name) or "").split(","):
        host = host.strip().rstrip("/")
        if host:
            out.append(host.removesuffix("/v1"))
    return out


def ollama_hosts() -> list[str]:
    return hosts_of("OLLAMA_URL")


def model_hosts() -> list[str]:
    """Every model server configured, of every kind."""
    return ollama_hosts() + hosts_of("OPENAI_BASE_URL")


def backends() -> list[str]:
    value = get("ASSISTANT_BACKENDS")
    if isinstance(value, str):
        value = value.split(",")
    return [b.strip() for b in value if b.strip()]


def rate_limit(name: str = "HELP_RATE_LIMIT") -> tuple[int, int]:
    """A "calls/seconds" setting as (calls, seconds); "10/60" → (10, 60)."""
    calls, _, seconds = str(get(name)).partition("/")
    return int(calls), int(seconds or 60)
