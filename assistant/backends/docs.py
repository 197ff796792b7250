"""No LLM: the sentences of the best doc that answer the question, as steps, with its link.
Always answers; also what the reader gets when the grounding guard rejects a model's answer."""

import re
from collections.abc import AsyncIterator

from assistant import conf
from assistant.answering.events import Token, Usage
from assistant.answering.grounding import screen_quote
from assistant.answering.prompt import Prompt
from assistant.backends.base import Backend
from assistant.helpdocs.selectors import Passage
from assistant.helpdocs.text import topic_terms

TEXTS = {
    "en": {
        "from": "From [{title}]({url}):",
        "not_covered": "The help docs don't cover this yet. Try other words, or contact support.",
        "related": "Maybe related:",
    },
    "fr": {
        "from": "D'après [{title}]({url}) :",
        "not_covered": "L'aide ne couvre pas encore cette question. "
        "Essayez d'autres mots ou contactez le support.",
        "related": "Peut-être utile :",
    },
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*À-Ý])")
_LABEL = re.compile(r"\*\*[^*]+\*\*")


def _sentences(passages: list[Passage]) -> list[str]:
    quoted = (screen_quote(s) for p in passages for s in _SENTENCE_END.split(p.labelled))
    return [s for s in quoted if s]


def _answering(sentences: list[str], topic: frozenset[str]) -> list[str]:
    """The sentences that answer: those on the question's topic or naming a UI label (the
    steps), in the doc's order; the doc's first sentence when none does."""
    chosen = [s for s in sentences if topic & topic_terms(s) or _LABEL.search(s)]
    return chosen or sentences[:1]


def docs_answer(prompt: Prompt) -> str:
    texts = TEXTS.get(prompt.language, TEXTS["en"])
    if not prompt.covered or not prompt.docs:
        lines = [texts["not_covered"]]
        if prompt.sources:
            lines += ["", texts["related"]]
            lines += [f"- [{s['title']}]({s['url']})" for s in prompt.sources[:2]]
        return "\n".join(lines)
    budget = int(conf.get("HELP_MAX_DOCS_CHARS"))
    blocks: list[str] = []
    for passages in prompt.docs:
        head = passages[0]
        steps, used = [], 0
        for sentence in _answering(_sentences(passages), prompt.topic):
            if steps and used + len(sentence) > budget:
                break
            steps.append(sentence)
            used += len(sentence)
        budget -= used
        listed = [f"{i}. {s}" for i, s in enumerate(steps, 1)] if len(steps) > 1 else steps
        blocks.append(
            "\n".join([texts["from"].format(title=head.title, url=head.url), "", *listed])
        )
        if budget <= 0:
            break
    return "\n\n".join(blocks)


class DocsBackend(Backend):
    name = "docs"
    guarded = False

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token]:
        for line in docs_answer(prompt).splitlines(keepends=True):
            yield Token(line)
