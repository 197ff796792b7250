"""A model server over HTTP, one or more hosts (Ollama's native API, OpenAI-compatible
servers): per-host admission (slots and queue), retries while nothing reached the reader, a
breaker per host. A 503 is the server's own queue being full: busy, so the next host, never a
breaker failure. Subclasses name the hosts and the client."""

import asyncio
from collections.abc import AsyncIterator
from types import ModuleType

from assistant import conf, metrics
from assistant.answering import admission
from assistant.answering.events import Queued, Token, Usage
from assistant.answering.prompt import Prompt
from assistant.backends import breaker
from assistant.backends.base import Backend, BackendBusy, BackendError
from assistant.backends.model_http import ModelBusy, ModelError


class RemoteBackend(Backend):
    guarded = False  # each host has its own breaker
    # The client module: chat_stream(host, messages, usage), warm_up(host), probe(host).
    client: ModuleType
    hosts_setting = ""
    model_setting = ""

    def hosts(self) -> list[str]:
        return conf.hosts_of(self.hosts_setting)

    def configured(self) -> bool:
        return bool(self.hosts())

    def model_name(self) -> str:
        return str(conf.get(self.model_setting))

    def breaker_name(self, host: str) -> str:
        return f"{self.name}:{host}"

    def host_allowed(self, host: str) -> bool:
        """May `host` be called now? Its breaker, probed cheaply when the cooldown ends."""
        return breaker.allow(self.breaker_name(host), probe=lambda: self.client.probe(host))

    def health(self) -> dict:
        return {
            "model": self.model_name(),
            "hosts": {h: breaker.state(self.breaker_name(h)) for h in self.hosts()},
        }

    def warm_up(self) -> dict:
        """Load the model on every host whose breaker lets it (Celery beat)."""
        report: dict = {}
        for host in self.hosts():
            if not self.host_allowed(host):
                report[host] = "skipped: breaker open"
                continue
            try:
                reply = self.client.warm_up(host)
                breaker.success(self.breaker_name(host))
                report[host] = reply.get("done_reason") or "ok"
            except ModelError as exc:
                breaker.failure(self.breaker_name(host))
                report[host] = f"failed: {exc}"
        return report

    async def _allowed(self, host: str) -> bool:
        name = self.breaker_name(host)
        return await breaker.aallow(name, probe=lambda: self.client.probe(host))

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token | Queued]:
        hosts = [h for h in self.hosts() if await self._allowed(h)]
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
            except ModelBusy as exc:
                metrics.UPSTREAM_BUSY.labels(self.name).inc()
                errors.append(f"{host}: {exc}")
                busy += 1
            except ModelError as exc:
                errors.append(f"{host}: {exc}")
            finally:
                await ticket.release()
        if not hosts:
            raise BackendError(f"every {self.name} host is skipped by its breaker")
        if busy == len(hosts):
            raise BackendBusy("; ".join(errors))
        raise BackendError("; ".join(errors))

    async def _generate(
        self, host: str, prompt: Prompt, usage: Usage, ticket: admission.Ticket
    ) -> AsyncIterator[Token]:
        """One host, with retries while nothing reached the reader. Raises ModelError (its
        breaker already told) or ModelBusy (breaker untouched)."""
        attempts = max(1, int(conf.get("HELP_OLLAMA_RETRIES")))
        backoff = float(conf.get("RETRY_BACKOFF_BASE"))
        name = self.breaker_name(host)
        emitted = False
        for attempt in range(attempts):
            try:
                async for text in self.client.chat_stream(host, prompt.messages, usage):
                    emitted = True
                    await ticket.keep()
                    yield Token(text)
                await breaker.asuccess(name)
                return
            except ModelBusy:
                raise
            except ModelError as exc:
                # Never retry once text reached the user: it would be repeated.
                if emitted or not exc.retryable or attempt + 1 == attempts:
                    await breaker.afailure(name)
                    if emitted:
                        raise BackendError(f"{host}: {exc}") from exc
                    raise
                await asyncio.sleep(backoff * 2**attempt)
