from collections.abc import AsyncIterator

from assistant.answering.events import Queued, Token, Usage
from assistant.answering.prompt import Prompt


class BackendError(Exception):
    """The backend could not answer; the chain moves on (or ends the stream if text went out)."""


class BackendBusy(BackendError):
    """Temporarily busy (not broken): skip it without tripping its breaker."""


class Backend:
    name = ""
    # Guarded backends get a breaker under their name; Ollama guards each host itself.
    guarded = True

    def configured(self) -> bool:
        return True

    def model_name(self) -> str:
        return self.name

    def probe(self) -> bool:
        return True

    def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token | Queued]:
        """Yield the answer's text as Token events (and Queued while waiting for a model
        slot); fill `usage` when the model reports it. Closing the iterator, or cancelling
        its task, stops the generation."""
        raise NotImplementedError

    def health(self) -> dict:
        return {}
