"""What a step tells the reader to do, checked against the passages: the UI labels it names,
and whether it says the opposite of them.

- A label — in **bold**, in quotes ("…", “…”, «…», '…'), in `backticks`, or each part of a
  menu path (A → B, A > B, A › B) — must be a phrase of the passages (one word: one of their
  labels, or a word they capitalise mid-sentence, as docs name a page: "from Settings"),
  ignoring case, accents, plural and singular: **Export to PDF** is not the docs' **Export
  PDF**, "Create" not their **Create invoice**, and "File" names a menu no doc has.
- A sentence that negates what the passage sentence closest to it states (sharing most of its
  content words), or states what that sentence negates, contradicts the docs. Negation in
  English and French: not, no, never, cannot, n't, none, nothing, no longer; ne … pas, ne …
  jamais, ne … plus, aucun, rien, jamais, non.
"""

import re
from dataclasses import dataclass

from assistant.helpdocs.text import fold, topic_terms

_BOLD = re.compile(r"\*\*([^*\n]{1,80}?)\*\*")
_QUOTED = re.compile(
    r"\"([^\"\n]{1,80}?)\"|“([^”\n]{1,80}?)”|«\s?([^»\n]{1,80}?)\s?»|`([^`\n]{1,80}?)`"
    r"|(?<![\w'])'([^'\n]{1,80}?)'(?![\w'])"
)
_ARROW = re.compile(r"\s*(?:→|->|›|(?<![<>=-])>(?![>=]))\s*")
# A menu path's part, when it carries no quotes or bold: the capitalised words by the arrow.
_CAPITALISED = r"(?:[A-ZÀ-Ý0-9][\w'’-]*)(?:\s+(?:[A-ZÀ-Ý0-9&][\w'’-]*))*"
_WORD = re.compile(r"[a-z0-9]+")
_MID_CAPITAL = re.compile(r"(?<=[\w,;:)] )[A-ZÀ-Ý][\w'’-]+")
_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+|^\[|\]$")

_NEGATION_EN = re.compile(
    r"\b(?:not|no|never|cannot|none|nothing|nobody|neither|nor)\b|n't\b|n’t\b|\bno longer\b",
    re.IGNORECASE,
)
_NEGATION_FR = re.compile(
    r"\b(?:ne|n')\s*\w+(?:\s+\w+)?\s+(?:pas|jamais|plus|rien|aucun|aucune|guère)\b"
    r"|\bn[’']\w+\s+(?:pas|jamais|plus|rien)\b|\b(?:jamais|aucun|aucune|rien|non)\b",
    re.IGNORECASE,
)
_NEGATION_WORDS = frozenset(
    "not no never cannot none nothing nobody neither nor longer ne pas jamais plus rien aucun "
    "aucune guere non t".split()
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
# How much of a model sentence's content a passage sentence must share to be what it speaks
# of: at least this many words, and at least this share of the sentence's own.
SAME_CLAIM_WORDS = 2
SAME_CLAIM_SHARE = 0.5


def _singular(word: str) -> str:
    """Plural and singular meet (and nothing else: "Sharing" is not "Share")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 4 and word.endswith("aux"):
        return word[:-3] + "al"
    if len(word) > 3 and word.endswith(("s", "x")) and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase(text: str) -> str:
    """A phrase as labels are compared: folded, singular, no punctuation: "**Save Drafts**"
    → "save draft"."""
    return " ".join(_singular(w) for w in _WORD.findall(fold(text)))


_LEADING_CAPITALS = re.compile(rf"({_CAPITALISED})\s*$")
_CONNECTOR = r"(?:and|or|to|in|then|for|on|of|at|from|with|et|ou|puis|pour|dans|sur|de|du|des)"
_MENU_ITEM = re.compile(rf"^[\w'’&-]+(?:\s+(?!{_CONNECTOR}\b)[\w'’&-]+){{0,4}}", re.IGNORECASE)


def _menu_parts(text: str) -> list[str]:
    """The parts of the menu paths in `text` (labels already found replaced by "X"): before the
    first arrow its capitalised words, between arrows the item, after the last the words up
    to a connecting word or punctuation ("→ Guest access, or…")."""
    pieces = _ARROW.split(text)
    if len(pieces) < 2:
        return []
    before = _LEADING_CAPITALS.search(pieces[0]) or re.search(r"([\w'’-]+)\s*$", pieces[0])
    parts = [before.group(1)] if before else []
    for piece in pieces[1:]:
        item = _MENU_ITEM.match(piece.strip())
        if item:
            parts.append(item.group(0))
    return parts


def labels_in(sentence: str) -> list[str]:
    """The UI labels a sentence names: bold, quoted, in backticks, each part of a menu path."""
    found = [m.group(1) for m in _BOLD.finditer(sentence)]
    found += [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(sentence)]
    bare = _QUOTED.sub("X", _BOLD.sub("X", sentence))
    found += [p for p in _menu_parts(bare) if p != "X"]
    return [f.strip() for f in found if f.strip() and _WORD.search(fold(f))]


def negated(sentence: str) -> bool:
    """Whether a sentence negates what it says (its labels aside: **Don't save** is a name)."""
    text = _QUOTED.sub(" ", _BOLD.sub(" ", sentence))
    return bool(_NEGATION_EN.search(text) or _NEGATION_FR.search(text))


def _content(sentence: str, language: str) -> frozenset[str]:
    return frozenset(t for t in topic_terms(sentence, language) if t not in _NEGATION_WORDS)


@dataclass(frozen=True)
class _Claim:
    content: frozenset[str]
    negated: bool


class StepChecks:
    """The passages' phrases and claims, read once per set of passages (the guard keeps them:
    grounding._passages)."""

    def __init__(self, passages: str, language: str = "en"):
        self.language = language
        lines = [_MARKER.sub("", line) for line in passages.split("\n")]
        self._phrases = f" {' '.join(phrase(line) for line in lines)} "
        self._labels = {
            phrase(part)
            for line in lines
            for label in labels_in(line) + _MID_CAPITAL.findall(line)
            for part in [label, *_ARROW.split(label)]
        }
        self._claims = [
            _Claim(_content(s, language), negated(s))
            for line in lines
            for s in _SENTENCE.split(line)
            if s.strip()
        ]

    @property
    def has_labels(self) -> bool:
        return bool(self._labels)

    def names_label(self, sentence: str) -> bool:
        """Whether `sentence` names one of the passages' labels: in its own form (bold,
        quoted, a menu path), or written plainly when it has several words ("click Export
        PDF"; a plain "invoices" names nothing)."""
        if any(phrase(label) in self._labels for label in labels_in(sentence)):
            return True
        words = f" {phrase(sentence)} "
        return any(" " in label and f" {label} " in words for label in self._labels)

    def unknown_label(self, sentence: str) -> str | None:
        """The first label of `sentence` that is no phrase of the passages, if any."""
        for label in labels_in(sentence):
            words = phrase(label)
            if not words or words in self._labels:
                continue
            if " " not in words or f" {words} " not in self._phrases:
                return label
        return None

    def contradicts(self, sentence: str) -> bool:
        """Whether `sentence` says the opposite of what the passages say of the same thing: a
        passage sentence sharing enough of its content words (SAME_CLAIM_WORDS,
        SAME_CLAIM_SHARE) has the other polarity, and none of the same polarity shares more."""
        content = _content(sentence, self.language)
        if len(content) < SAME_CLAIM_WORDS:
            return False
        needed = max(SAME_CLAIM_WORDS, SAME_CLAIM_SHARE * len(content))
        polarity = negated(sentence)
        same = opposite = 0
        for claim in self._claims:
            shared = len(content & claim.content)
            if shared < needed:
                continue
            if claim.negated == polarity:
                same = max(same, shared)
            else:
                opposite = max(opposite, shared)
        return opposite > 0 and opposite >= same
