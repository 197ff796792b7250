"""Ollama over its native API, with retries and a breaker per host."""

import threading
import time
from collections.abc import Iterator

from .. import breaker, conf, ollama_client
from ..prompt import Prompt
from .base import Backend, BackendError


def host_breaker_name(host: str) -> str:
    return f"ollama:{host}"


def host_allowed(host: str) -> bool:
    """May `host` be called now? Its breaker, probed with `GET /` when the cooldown ends."""
    return breaker.allow(host_breaker_name(host), probe=lambda: ollama_client.probe(host))


class OllamaBackend(Backend):
    name = "ollama"
    guarded = False  # each host has its own breaker

    def configured(self) -> bool:
        return bool(conf.ollama_hosts())

    def model_name(self) -> str:
        return str(conf.get("OLLAMA_MODEL"))

    def health(self) -> dict:
        return {
            "model": self.model_name(),
            "hosts": {h: breaker.state(host_breaker_name(h)) for h in conf.ollama_hosts()},
        }

    def stream(self, prompt: Prompt, usage: dict, cancel: threading.Event) -> Iterator[str]:
        attempts = max(1, int(conf.get("HELP_OLLAMA_RETRIES")))
        backoff = float(conf.get("RETRY_BACKOFF_BASE"))
        last_error = "every Ollama host is skipped by its breaker"
        for host in conf.ollama_hosts():
            if not host_allowed(host):
                continue
            name = host_breaker_name(host)
            emitted = False
            for attempt in range(attempts):
                try:
                    for text in ollama_client.chat_stream(host, prompt.messages, usage, cancel):
                        emitted = True
                        yield text
                    breaker.success(name)
                    return
                except ollama_client.OllamaError as exc:
                    last_error = f"{host}: {exc}"
                    # Never retry once text reached the user: it would be repeated.
                    if emitted:
                        breaker.failure(name)
                        raise BackendError(last_error) from exc
                    if not exc.retryable or attempt + 1 == attempts or cancel.is_set():
                        break
                    time.sleep(backoff * 2**attempt)
            breaker.failure(name)
        raise BackendError(last_error)
