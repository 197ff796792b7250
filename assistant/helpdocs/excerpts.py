"""The part of a section that answers a question, within a budget: what the prompt carries
and what the docs answer quotes, so both hold the same passage.

A section that fits is taken whole. A longer one gives the blocks (paragraphs, list items,
table rows) that hold the question's topic, the rarest words first, with the line that
introduces a list ("Follow these steps:") before its items, in the doc's order; a block too
long for what is left keeps its sentences on the topic. A section matched by its heading
alone gives its opening.
"""

import re
from collections.abc import Callable

from assistant.helpdocs.index import Passage
from assistant.helpdocs.parsing import Block
from assistant.helpdocs.text import terms, truncate_words

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*\"“«À-Ý])")


def _size(blocks: list[Block]) -> int:
    return sum(len(b.text) + 4 for b in blocks)


def _trimmed(block: Block, topic: frozenset[str], room: int, language: str) -> Block | None:
    """The block's sentences on the topic (else its first), within `room` characters."""
    sentences = _SENTENCE_END.split(block.text)
    on_topic = [s for s in sentences if topic & set(terms(s, language))] or sentences[:1]
    kept: list[str] = []
    for sentence in on_topic:
        if len(" ".join([*kept, sentence])) > room:
            break
        kept.append(sentence)
    if not kept:
        text = truncate_words(on_topic[0], room)
        if text.count("**") % 2:  # a label cut in half
            text = text.replace("**", "")
        kept = [text] if len(text) > 20 else []
    return Block(block.kind, " ".join(kept), block.number, block.depth) if kept else None


def excerpt(
    passage: Passage, topic: frozenset[str], budget: int, weight: Callable[[str], float]
) -> list[Block]:
    """The blocks of `passage` that answer a question on `topic`, in the doc's order."""
    blocks = list(passage.blocks)
    if _size(blocks) <= budget:
        return blocks
    scores = [sum(weight(t) for t in topic & words) for words in passage.terms_of_blocks]
    order = sorted(range(len(blocks)), key=lambda i: (-scores[i], i))
    if not scores or max(scores) == 0:
        order = list(range(len(blocks)))  # matched by its heading: its opening
    chosen: dict[int, Block] = {}
    left = budget
    for i in order:
        if scores[i] == 0 and chosen and max(scores) > 0:
            break
        wanted = [i]
        intro = _introduction(blocks, i)
        if intro is not None and intro not in chosen:
            wanted.insert(0, intro)
        for j in wanted:
            if j in chosen:
                continue
            block = blocks[j]
            if len(block.text) + 4 > left:
                block = _trimmed(block, topic, left - 4, passage.language)
                if block is None:
                    continue
            chosen[j] = block
            left -= len(block.text) + 4
        if left < 40:
            break
    return [chosen[i] for i in sorted(chosen)]


def _introduction(blocks: list[Block], i: int) -> int | None:
    """The paragraph that introduces the list item at `i` ("…the following:"), if any."""
    if blocks[i].kind != "item":
        return None
    j = i
    while j > 0 and blocks[j - 1].kind == "item":
        j -= 1
    if j > 0 and blocks[j - 1].kind == "para" and blocks[j - 1].text.rstrip().endswith(":"):
        return j - 1
    return None


def as_markdown(blocks: list[Block]) -> str:
    """Blocks as the small Markdown the widget renders: paragraphs apart, list items as the
    doc numbers them (or as bullets), nested by indentation, **labels** kept."""
    lines: list[str] = []
    previous: Block | None = None
    for block in blocks:
        if block.kind == "item":
            marker = f"{block.number}." if block.number is not None else "-"
            line = "   " * block.depth + f"{marker} {block.text}"
        elif block.kind == "row":
            line = f"- {block.text}"
        else:
            line = block.text
        if previous is not None and "para" in (block.kind, previous.kind):
            lines.append("")
        lines.append(line)
        previous = block
    return "\n".join(lines)
