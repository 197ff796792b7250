"""No LLM: the best matching passages quoted with their titles. Always answers."""

import threading
from collections.abc import Iterator

from ..prompt import Prompt
from .base import Backend

INTRO = {
    "en": "Here is what the help docs say:",
    "fr": "Voici ce que dit l'aide :",
}
NOTHING = {
    "en": "The help docs don't cover this question yet. Try other words, or contact support.",
    "fr": "L'aide ne couvre pas encore cette question. "
    "Essayez d'autres mots ou contactez le support.",
}


def docs_answer(prompt: Prompt, language: str) -> str:
    lang = language if language in INTRO else "en"
    if not prompt.passages:
        return NOTHING[lang]
    lines = [INTRO[lang], ""]
    for hit in prompt.passages:
        lines.append(f"**{hit.passage.title}**: {hit.passage.text}")
    return "\n".join(lines)


class DocsBackend(Backend):
    name = "docs"
    guarded = False

    def stream(self, prompt: Prompt, usage: dict, cancel: threading.Event) -> Iterator[str]:
        for line in docs_answer(prompt, prompt.language).splitlines(keepends=True):
            if cancel.is_set():
                return
            yield line
