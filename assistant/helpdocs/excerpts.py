"""The part of a section that answers a question, within a budget: what the prompt carries
and what the docs answer quotes, so both hold the same passage.

A section that fits is taken whole. A longer one gives the blocks (paragraphs, list items,
table rows) that hold the question's topic, the rarest words first, in the doc's order. A
list is taken whole, with the line that introduces it ("Here is what you need:"): when it
doesn't fit, each item keeps its first sentence, which names the step or the thing. A block
too long for what is left keeps its sentences on the topic. A section matched by its heading
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


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


def _trimmed(
    block: Block, topic: frozenset[str], room: int, language: str, first: bool = False
) -> Block | None:
    """The block's sentences on the topic (with its first, for a list item: it names the step
    or the thing), within `room` characters; None when not even one fits."""
    sentences = _sentences(block.text)
    wanted = [s for s in sentences if topic & set(terms(s, language))]
    if first or not wanted:
        wanted = [sentences[0]] + [s for s in wanted if s is not sentences[0]]
    kept: list[str] = []
    for sentence in wanted:
        if len(" ".join([*kept, sentence])) > room:
            break
        kept.append(sentence)
    if not kept:
        text = truncate_words(wanted[0], room)
        if text.count("**") % 2:  # a label cut in half
            text = text.replace("**", "")
        kept = [text] if len(text) > 20 else []
    return Block(block.kind, " ".join(kept), block.number, block.depth) if kept else None


def _list_around(blocks: list[Block], i: int) -> list[int]:
    """The list that block `i` is an item of, or introduces: its introducing line (a
    paragraph ending with ":") and its items, in order. [i] for any other block."""
    if blocks[i].kind == "item":
        start = end = i
    elif (
        blocks[i].kind == "para"
        and blocks[i].text.rstrip().endswith(":")
        and i + 1 < len(blocks)
        and blocks[i + 1].kind == "item"
    ):
        start = end = i + 1
    else:
        return [i]
    while start > 0 and blocks[start - 1].kind == "item":
        start -= 1
    while end + 1 < len(blocks) and blocks[end + 1].kind == "item":
        end += 1
    intro = start - 1
    if intro >= 0 and blocks[intro].kind == "para" and blocks[intro].text.rstrip().endswith(":"):
        start = intro
    return list(range(start, end + 1))


def excerpt(
    passage: Passage, topic: frozenset[str], budget: int, weight: Callable[[str], float]
) -> list[Block]:
    """The blocks of `passage` that answer a question on `topic`, in the doc's order."""
    blocks = list(passage.blocks)
    if _size(blocks) <= budget:
        return blocks
    scores = [
        sum(weight(t) for t in topic & set(terms(b.plain, passage.language))) for b in blocks
    ]
    if max(scores, default=0) == 0:  # matched by its heading: its opening
        order = list(range(len(blocks)))
    else:
        order = [i for i in sorted(range(len(blocks)), key=lambda i: (-scores[i], i)) if scores[i]]
    chosen: dict[int, Block] = {}
    left = budget
    for i in order:
        unit = [j for j in _list_around(blocks, i) if j not in chosen]
        whole = sum(len(blocks[j].text) + 4 for j in unit)
        for j in unit:
            block = blocks[j]
            if whole > left and (j != i or len(block.text) + 4 > left):
                # A list that doesn't fit whole keeps each item's first sentence (and the
                # answering item its sentences on the topic too).
                on_topic = topic if j == i else frozenset()
                first = j != i or block.kind == "item"
                block = _trimmed(block, on_topic, left - 4, passage.language, first=first)
                if block is None:
                    continue
            chosen[j] = block
            left -= len(block.text) + 4
        if left < 40:
            break
    return [chosen[i] for i in sorted(chosen)]


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
