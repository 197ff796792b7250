"""Ollama over its native API: per-host admission (slots and queue), retries, a breaker per
host. A 503 is Ollama's own queue being full: busy, so the next host, never a breaker failure."""

import asyncio
from collections.abc import AsyncIterator

from .. import breaker, conf, metrics, ollama_client
from ..answering import admission
from ..answering.events import Queued, Token, Usage
from ..prompt import Prompt
from .base import Backend, BackendBusy, BackendError


def host_breaker_name(host: str) -> str:
    return f"ollama:{host}"


def host_allowed(host: str) -> bool:
    """May `host` be called now? Its breaker, probed with `GET /` when the cooldown ends."""
    return breaker.allow(host_breaker_name(host), probe=lambda: ollama_client.probe(host))


async def _host_allowed(host: str) -> bool:
    return await breaker.aallow(host_breaker_name(host), probe=lambda: ollama_client.probe(host))


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

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token | Queued]:
        hosts = [h for h in conf.ollama_hosts() if await _host_allowed(h)]
        errors, busy = [], 0
        for host in await admission.least_loaded(hosts):
            ticket = admission.Ticket(host)
            try:
                try:
                    async for queued in ticket.wait():
                        yield queued
                except admission.QueueFull as exc:
                    errors.append(str(exc))
                    busy += 1
                    continue
                async for item in self._generate(host, prompt, usage, ticket):
                    yield item
                await ticket.release(completed=True)
                return
            except ollama_client.OllamaBusy as exc:
                metrics.UPSTREAM_BUSY.labels(self.name).inc()
                errors.append(f"{host}: {exc}")
                busy += 1
            except ollama_client.OllamaError as exc:
                errors.append(f"{host}: {exc}")
            finally:
                await ticket.release()
        if not hosts:
            raise BackendError("every Ollama host is skipped by its breaker")
        if busy == len(hosts):
            raise BackendBusy("; ".join(errors))
        raise BackendError("; ".join(errors))

    async def _generate(
        self, host: str, prompt: Prompt, usage: Usage, ticket: admission.Ticket
    ) -> AsyncIterator[Token]:
        """One host, with retries while nothing reached the reader. Raises OllamaError (its
        breaker already told) or OllamaBusy (breaker untouched)."""
        attempts = max(1, int(conf.get("HELP_OLLAMA_RETRIES")))
        backoff = float(conf.get("RETRY_BACKOFF_BASE"))
        name = host_breaker_name(host)
        emitted = False
        for attempt in range(attempts):
            try:
                async for text in ollama_client.chat_stream(host, prompt.messages, usage):
                    emitted = True
                    await ticket.keep()
                    yield Token(text)
                await breaker.asuccess(name)
                return
            except ollama_client.OllamaBusy:
                raise
            except ollama_client.OllamaError as exc:
                # Never retry once text reached the user: it would be repeated.
                if emitted or not exc.retryable or attempt + 1 == attempts:
                    await breaker.afailure(name)
                    if emitted:
                        raise BackendError(f"{host}: {exc}") from exc
                    raise
                await asyncio.sleep(backoff * 2**attempt)
