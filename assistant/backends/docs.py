"""No LLM: the passage of the best section that answers the question, with its link.
Always answers; also what the reader gets when the grounding guard rejects a model's answer."""

from collections.abc import AsyncIterator

from django.utils import translation
from django.utils.translation import gettext

from assistant import conf
from assistant.answering.events import Token, Usage
from assistant.answering.grounding import screen_quote
from assistant.answering.prompt import Prompt
from assistant.backends.base import Backend
from assistant.helpdocs.excerpts import as_markdown, excerpt
from assistant.helpdocs.parsing import Block
from assistant.helpdocs.selectors import MAYBE


def _texts(language: str) -> dict[str, str]:
    """The docs answer's own words, in the answer's language (the catalog: locale/)."""
    with translation.override(language or "en"):
        return {
            "from": gettext("From [{title}]({url}):"),
            "not_covered": gettext(
                "The help docs don't cover this yet. Try other words, or contact support."
            ),
            "related": gettext("Maybe related:"),
            "maybe": gettext("This may help:"),
        }


def _quoted(blocks: list[Block]) -> list[Block]:
    """The blocks fit to quote: through the guard's link and markup screen (a doc body is
    untrusted data too); a block carrying a script is dropped."""
    out = []
    for block in blocks:
        text = screen_quote(block.text)
        if text:
            out.append(Block(block.kind, text, block.number, block.depth))
    return out


def docs_answer(prompt: Prompt) -> str:
    """The covering sections' passages that answer, as the doc writes them (its steps and
    **labels**), each under "From [heading path](link to the section)"; when the docs may
    cover the question (`maybe`), the best section's only, offered as such ("This may help:");
    when they don't, saying so, with at most two near matches."""
    texts = _texts(prompt.language)
    if prompt.coverage == MAYBE and prompt.sections:
        return _hedged(prompt, texts)
    if not prompt.covered or not prompt.sections:
        lines = [texts["not_covered"]]
        if prompt.sources:
            lines += ["", texts["related"]]
            lines += [f"- [{s['title']}]({s['url']})" for s in prompt.sources[:2]]
        return "\n".join(lines)
    budget = int(conf.get("HELP_MAX_DOCS_CHARS"))
    parts: list[str] = []
    for section in prompt.sections:
        if budget < 40:
            break
        blocks = _quoted(excerpt(section, prompt.topic, budget, prompt.weights.get))
        if not blocks:
            continue
        budget -= sum(len(b.text) + 4 for b in blocks)
        head = texts["from"].format(title=section.title, url=section.url)
        parts.append(f"{head}\n\n{as_markdown(blocks)}")
    return "\n\n".join(parts)


def _hedged(prompt: Prompt, texts: dict[str, str]) -> str:
    """The best candidate's passage under its heading link, never as a sure answer (not
    "From …:"); with nothing fit to quote, its link alone."""
    section = prompt.sections[0]
    budget = int(conf.get("HELP_MAX_DOCS_CHARS"))
    blocks = _quoted(excerpt(section, prompt.topic, budget, prompt.weights.get))
    parts = [texts["maybe"], f"[{section.title}]({section.url})"]
    if blocks:
        parts.append(as_markdown(blocks))
    return "\n\n".join(parts)


class DocsBackend(Backend):
    name = "docs"
    guarded = False

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[Token]:
        for line in docs_answer(prompt).splitlines(keepends=True):
            yield Token(line)
