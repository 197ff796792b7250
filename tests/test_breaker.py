"""Circuit breakers: an open host is skipped without a connection; a probe lets it back."""

import pytest

from assistant.answering.events import Meta, Token
from assistant.answering.prompt import Prompt
from assistant.backends import breaker, generate
from tests.conftest import collect

PROMPT = Prompt(system="s", user="u")
SAY = "Click **Save** to keep your changes."
SAID = Prompt(system="s", user="u", docs_text=SAY)


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(breaker, "time", c)
    return c


def _backend_of(events) -> str:
    return next(e.backend for e in collect(events) if isinstance(e, Meta))


def test_cooldown_doubles_from_30s_up_to_300s(clock):
    cooldowns = []
    for _ in range(6):
        breaker.failure("x")
        cooldowns.append(round(breaker.state("x")["retry_in"]))
    assert cooldowns == [30, 60, 120, 240, 300, 300]
    breaker.success("x")
    assert breaker.state("x") == {"state": "closed", "failures": 0}


def test_open_host_is_not_touched_then_probe_lets_it_back(grounded_prompt, ollama, settings, clock):
    settings.RETRY_BACKOFF_BASE = 0.001
    ollama.reset(mode="error500")
    assert _backend_of(generate(grounded_prompt)) == "docs"
    assert ollama.chat_calls == 2 and ollama.connections >= 1

    # Open: the next question goes straight to the docs, no request, no connection.
    before = (dict(ollama.requests), ollama.connections)
    assert _backend_of(generate(grounded_prompt)) == "docs"
    assert (ollama.requests, ollama.connections) == before

    # Cooldown over and Ollama back: one cheap probe (GET /), then the real call.
    ollama.reset()
    clock.now += 31
    assert _backend_of(generate(grounded_prompt)) == "ollama"
    assert ollama.requests == {"GET /": 1, "POST /api/chat": 1}
    assert breaker.state(f"ollama:{ollama.url}")["state"] == "closed"


def test_failed_probe_reopens_for_longer(grounded_prompt, ollama, settings, clock):
    settings.RETRY_BACKOFF_BASE = 0.001
    ollama.reset(mode="error500")
    collect(generate(grounded_prompt))
    ollama.reset(mode="down_probe")
    clock.now += 31
    assert _backend_of(generate(grounded_prompt)) == "docs"
    assert ollama.requests == {"GET /": 1}  # the probe only
    state = breaker.state(f"ollama:{ollama.url}")
    assert state["state"] == "open" and state["failures"] == 2 and state["retry_in"] == 60


def test_breaker_state_is_shared_through_the_cache(ollama, settings, clock):
    from django.core.cache import cache

    breaker.failure("embedded")
    assert cache.get("assistant:breaker:embedded")["failures"] == 1


def test_open_breaker_skips_a_guarded_backend(settings, clock, monkeypatch):
    from assistant import backends
    from assistant.backends.base import Backend

    calls = []

    class Model(Backend):
        name = "m"

        async def stream(self, prompt, usage):
            calls.append(1)
            yield Token(SAY)  # what the passages say: the guard lets it through

    monkeypatch.setitem(backends.REGISTRY, "m", Model())
    settings.ASSISTANT_BACKENDS = ["m", "docs"]
    breaker.failure("m")
    assert _backend_of(generate(SAID)) == "docs"
    assert calls == []
    clock.now += 31
    assert _backend_of(generate(SAID)) == "m"
    assert breaker.state("m")["state"] == "closed"


def test_a_breaker_another_worker_opens_is_seen_within_the_memo(settings, clock):
    from django.core.cache import cache

    assert breaker.allow("embedded")  # read closed: trusted for CLOSED_MEMO_SECONDS
    cache.set(  # another worker's failure, written straight to the shared cache
        "assistant:breaker:embedded", {"failures": 1, "open_until": clock.now + 30}, 600
    )
    assert breaker.allow("embedded")
    clock.now += breaker.CLOSED_MEMO_SECONDS
    assert not breaker.allow("embedded")
    breaker.success("embedded")
    breaker.failure("embedded")  # this worker's own failure is seen at once
    assert not breaker.allow("embedded")


def test_only_one_worker_probes_after_the_cooldown(settings, clock):
    """While one worker's probe runs, every other asking the same breaker is told no."""
    for _ in range(2):
        breaker.failure("ollama")
    clock.now += 61  # past the 30 s cooldown
    asked_during_probe = []

    def probe() -> bool:
        asked_during_probe.append(breaker.allow("ollama", probe=lambda: True))
        return True

    assert breaker.allow("ollama", probe=probe) is True
    assert asked_during_probe == [False]
