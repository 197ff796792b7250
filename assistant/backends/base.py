import threading
from collections.abc import Iterator

from ..prompt import Prompt


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

    def stream(self, prompt: Prompt, usage: dict, cancel: threading.Event) -> Iterator[str]:
        """Yield text chunks; fill `usage` (tokens_in, tokens_out) when known."""
        raise NotImplementedError

    def health(self) -> dict:
        return {}
