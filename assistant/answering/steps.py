"""What a step tells the reader to do, checked against the passages: the UI labels it names,
and whether it says the opposite of them.

- A label — in **bold**, in quotes ("…", “…”, «…», '…'), in `backticks`, each part of a
  menu path (A → B, A > B, A › B), or written plainly with capitals after a verb that works a
  control ("press Send", "open Settings") — must be a phrase of the passages (one word: one of
  their labels, or a word they capitalise mid-sentence, as docs name a page: "from Settings"),
  ignoring case, accents, plural and singular: **Export to PDF** is not the docs' **Export
  PDF**, "Create" not their **Create invoice**, and "File" names a menu no doc has.
- A clause that negates what the passage sentence closest to it states (sharing most of its
  content words), or states what that sentence negates, contradicts the docs. Negation in
  English and French: not, no, never, cannot, n't, none, nothing, no longer; ne … pas, ne …
  jamais, ne … plus, aucun, rien, jamais, non. A restriction ("can only be archived") and a
  negation of something else ("can't be deleted") are the same fact told two ways, not
  opposites.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

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
# Phrases with a negation word that negate nothing: idioms, and bounds ("no more than 4"),
# which restrict.
_NOT_NEGATING = re.compile(
    r"\bno matter\b|\b(?:whether )?or not\b|\bou non\b|\bnot only\b|\bnon seulement\b", re.I
)
_BOUND = re.compile(
    r"\b(?:no|not)\s+(?:more|less|fewer|longer|later|earlier|bigger|larger)\s+than\b"
    r"|\bup to\b|\bat most\b|\bmaximum\b|\bjusqu[’']?(?:à|a)\b|\bau (?:plus|maximum)\b",
    re.I,
)
# "Other than X" excludes X: a negation without a negation word.
_EXCLUSION = re.compile(r"\bother than\b|\bautres? que\b", re.I)
# "only X" restricts: it denies everything but X (ne … que, seulement, uniquement in French).
_RESTRICTION = re.compile(
    r"\b(?:only|solely|seulement|uniquement|exclusivement)\b|\bn[e'’]\s*\w+(?:\s+\w+)?\s+que\b",
    re.IGNORECASE,
)
# A negation's reach is its clause: clauses end at ; or : or a dash, or at a comma before a
# conjunction; a leading "If/When …," is a clause of its own.
_CLAUSE = re.compile(
    r"\s*[;:]\s+|\s+[–—-]\s+|,\s+(?=(?:and|or|but|so|then|which|while|whereas|because|since"
    r"|though|although|yet|et|ou|mais|donc|puis|car|alors|tandis)\b)"
    # "… can no longer be edited and you'd need to…": a conjunction before a new subject
    r"|\s+(?:and|or|but|so|et|ou|mais|donc)\s+(?=(?:you|it|they|we|i|he|she|this|there"
    r"|vous|il|elle|ils|elles|on|nous)\b)",
    re.IGNORECASE,
)
_SUBORDINATE = re.compile(
    r"^\s*(?:if|when|whenever|once|unless|after|before|while|since|because|although|though|si"
    r"|quand|lorsque?|lorsqu[’']|une fois|avant|après|tant que)\b[^,]{0,120},\s+",
    re.IGNORECASE,
)
# The verbs that work a control: a capitalised word after one is the control's name.
_WORKS_A_CONTROL = re.compile(
    r"\b(?:click|clicking|press|pressing|tap|tapping|hit|choose|choosing|select|selecting|pick"
    r"|open|opening|go to|navigate to|head to|tick|check|uncheck|toggle|cliquez(?: sur)?"
    r"|appuyez(?: sur)?|touchez|ouvrez|choisissez|s[ée]lectionnez|cochez|allez (?:dans|sur))"
    r"(?:\s+(?:on|the|your|sur|le|la|les|l'|l’))*\s+(?=(?-i:[A-ZÀ-Ý]))",
    re.IGNORECASE,
)
_LABEL_WORD = re.compile(r"[\w'’&-]+")
# How far a plain label may run: "click Create invoice" names the docs' **Create invoice**.
PLAIN_LABEL_WORDS = 5
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


def _menu_parts(text: str) -> list[list[str]]:
    """The parts of the menu paths in `text` (labels already found replaced by "X"), each as
    the readings it may have, longest first: before the first arrow its capitalised words
    (and their ends: "Under Settings ›" names "Settings"), between arrows the item, after the
    last the words up to a connecting word or punctuation, and their starts ("› Send
    reminders emails every client" names "Send reminders")."""
    pieces = _ARROW.split(text)
    if len(pieces) < 2:
        return []
    before = _LEADING_CAPITALS.search(pieces[0]) or re.search(r"([\w'’-]+)\s*$", pieces[0])
    parts = []
    if before:
        words = before.group(1).split()
        parts.append([" ".join(words[i:]) for i in range(len(words))])
    for i, piece in enumerate(pieces[1:], start=2):
        item = _MENU_ITEM.match(piece.strip())
        if item and i < len(pieces):
            parts.append([item.group(0)])
        elif item:
            words = item.group(0).split()
            parts.append([" ".join(words[:n]) for n in range(len(words), 0, -1)])
    return parts


def _label_claims(sentence: str) -> list[list[str]]:
    """The UI labels a sentence names (bold, quoted, in backticks, each part of a menu path),
    each as the readings it may have, longest first."""
    found = [[m.group(1)] for m in _BOLD.finditer(sentence)]
    found += [[next(g for g in m.groups() if g is not None)] for m in _QUOTED.finditer(sentence)]
    bare = _QUOTED.sub("X", _BOLD.sub("X", sentence))
    found += [p for p in _menu_parts(bare) if p[0] != "X"]
    out = []
    for readings in found:
        readings = [r.strip() for r in readings if r.strip() and _WORD.search(fold(r))]
        if readings:
            out.append(readings)
    return out


def labels_in(sentence: str) -> list[str]:
    """The UI labels a sentence names: bold, quoted, in backticks, each part of a menu path."""
    return [readings[0] for readings in _label_claims(sentence)]


def _plain_labels(sentence: str) -> list[tuple[str, list[str]]]:
    """The controls a sentence names plainly, after a verb that works one ("press Send"): each
    as its capitalised words, with the phrases of 1 to PLAIN_LABEL_WORDS words from there (a
    label's later words are often lower-case: "click Create invoice")."""
    bare = _QUOTED.sub(" ~ ", _BOLD.sub(" ~ ", sentence))
    out = []
    for m in _WORKS_A_CONTROL.finditer(bare):
        rest = bare[m.end() :]
        head = re.match(_CAPITALISED, rest)
        words = _LABEL_WORD.findall(re.split(r"[.!?;:,()→›>]", rest, maxsplit=1)[0])
        if head:
            # At least its capitalised words: "Send All" is not the docs' "Send".
            least = len(head.group(0).split())
            most = min(len(words), max(least, PLAIN_LABEL_WORDS))
            spans = [" ".join(words[:n]) for n in range(least, most + 1)]
            out.append((head.group(0), spans))
    return out


def negated(sentence: str) -> bool:
    """Whether a sentence negates what it says (its labels aside: **Don't save** is a name;
    "no matter how", "or not" and bounds such as "no more than" negate nothing)."""
    text = _QUOTED.sub(" ", _BOLD.sub(" ", sentence))
    text = _BOUND.sub(" ", _NOT_NEGATING.sub(" ", text))
    return bool(_NEGATION_EN.search(text) or _NEGATION_FR.search(text) or _EXCLUSION.search(text))


def _split(sentence: str) -> list[tuple[str, bool]]:
    """A sentence's clauses, each with whether it is a leading "If/When …," one."""
    out = []
    for clause in _CLAUSE.split(sentence):
        lead = _SUBORDINATE.match(clause)
        out += (
            [(clause[: lead.end()], True), (clause[lead.end() :], False)]
            if lead
            else [(clause, False)]
        )
    return [(c, lead) for c, lead in out if c.strip()]


def clauses(sentence: str) -> list[str]:
    """A sentence's clauses: each carries its own claim, negated or not."""
    return [c for c, _ in _split(sentence)]


# The verbs that work a control say what to do with it, not what the claim is about.
UI_VERBS = frozenset(
    """open click press tap choose select pick go navigate head tick check uncheck toggle hit
    ouvrez cliquez appuyez touchez choisissez selectionnez cochez allez""".split()
)


@lru_cache(maxsize=4)
def _ui_verbs(language: str) -> frozenset[str]:
    return frozenset(topic_terms(" ".join(UI_VERBS), language))


def _content(sentence: str, language: str) -> frozenset[str]:
    """A claim's content words: no negation, no verb that works a control."""
    skip = _ui_verbs(language)
    return frozenset(
        t for t in topic_terms(sentence, language) if t not in _NEGATION_WORDS and t not in skip
    )


def restrictive(sentence: str) -> bool:
    """Whether a sentence restricts ("can only be archived", "up to 5,000 rows"): it denies
    all but what it says."""
    text = _QUOTED.sub(" ", _BOLD.sub(" ", sentence))
    return bool(_RESTRICTION.search(text) or _BOUND.search(text))


@dataclass(frozen=True)
class _Claim:
    content: frozenset[str]
    negated: bool
    restrictive: bool = False


class StepChecks:
    """The passages' phrases and claims, read once per set of passages (the guard keeps them:
    grounding._passages)."""

    def __init__(self, passages: str, language: str = "en"):
        self.language = language
        lines = [_MARKER.sub("", line) for line in passages.split("\n")]
        # A section's [heading path] names it: labels, but no claim.
        said = [_MARKER.sub("", x) for x in passages.split("\n") if not x.startswith("[")]
        self._phrases = f" {' '.join(phrase(line) for line in lines)} "
        self._labels = {
            phrase(part)
            for line in lines
            for label in labels_in(line) + _MID_CAPITAL.findall(line)
            for part in [label, *_ARROW.split(label)]
        }
        self._claims = [
            _Claim(_content(c, language), negated(c), restrictive(c))
            for line in said
            for s in _SENTENCE.split(line)
            for c in clauses(s)
        ]

    @property
    def has_labels(self) -> bool:
        return bool(self._labels)

    def names_label(self, sentence: str, question: str = "") -> bool:
        """Whether `sentence` names one of the passages' labels: in its own form (bold,
        quoted, a menu path), after a verb that works a control ("press Send"), capitalised
        inside the sentence as the passages write it, or written plainly when it has several
        words ("click export PDF"; a plain "invoices" names nothing). Written plainly, a label
        the question already has is its restatement ("to import a CSV file, you need to:")."""
        if any(phrase(label) in self._labels for label in labels_in(sentence)):
            return True
        asked = f" {phrase(question)} "
        plain = [w for w in _MID_CAPITAL.findall(sentence) if f" {phrase(w)} " not in asked]
        plain += [span for _, spans in _plain_labels(sentence) for span in spans]
        if any(phrase(words) and self._known(words) for words in plain):
            return True
        words = f" {phrase(sentence)} "
        return any(
            " " in label and f" {label} " in words and f" {label} " not in asked
            for label in self._labels
        )

    def _known(self, label: str) -> bool:
        words = phrase(label)
        return (
            not words or words in self._labels or (" " in words and f" {words} " in self._phrases)
        )

    def _known_plain(self, spans: list[str]) -> bool:
        """A plain label is known when one of its spans is (one word: a label of the passages;
        several: a phrase of theirs)."""
        return any(phrase(span) and self._known(span) for span in spans)

    def unknown_label(self, sentence: str) -> str | None:
        """The first label of `sentence` that is no phrase of the passages, if any."""
        for readings in _label_claims(sentence):
            if not any(self._known(r) for r in readings):
                return readings[0]
        for head, spans in _plain_labels(sentence):
            if not self._known_plain(spans):
                return head
        return None

    def contradicts(self, sentence: str) -> bool:
        """Whether a clause of `sentence` says the opposite of what the passages say of the
        same thing (`_opposes`): each clause whole, and a negation with the words up to its
        comma ("Never open Clients → New client, fill in…": the rest is not negated) or from
        the "and" before it ("… and it will not be collapsed")."""
        split = _split(sentence)
        for i, (clause, lead) in enumerate(split):
            short = len(_content(clause, self.language)) < SAME_CLAIM_WORDS
            if negated(clause) and short and not lead:
                # "Never open Settings, then Company, and change…": the steps that follow
                # are negated too (not a main clause after "If you don't…,").
                clause = " ".join(c for c, _ in split[i:])
            parts = [clause] + [p for p in clause.split(",")[:-1] if negated(p)]
            # A negation reaches the words after it, up to the next "and"/"or".
            parts += [p for p in re.split(r"\s+(?:and|or|et|ou)\s+", clause)[1:] if negated(p)]
            for part in parts:
                said = _Claim(_content(part, self.language), negated(part), restrictive(part))
                if part.strip() and self._opposes(said):
                    return True
        return False

    def contradicts_reply(self, question: str, yes: bool) -> bool:
        """Whether a bare "Yes." or "No." to `question` says the opposite of the passages: the
        reply claims the question's content, as asked (yes) or negated (no)."""
        content = _content(question, self.language)
        return self._opposes(_Claim(content, negated(question) != (not yes)))

    def _opposes(self, said: _Claim) -> bool:
        """A passage clause about the same thing (sharing SAME_CLAIM_WORDS of their content
        words, and SAME_CLAIM_SHARE of the claim's; of a negated passage clause's too) has the
        other polarity, and none of the same polarity is as close (most words shared, then
        most of its own). A restriction and a negation differ only when the negated one says
        nothing the restriction lacks: "can't be deleted" agrees with "can only be archived"."""
        content = said.content
        if len(content) < SAME_CLAIM_WORDS:
            return False
        needed = max(SAME_CLAIM_WORDS, SAME_CLAIM_SHARE * len(content))
        same = opposite = (0, 0.0)
        explained = 0
        for claim in self._claims:
            shared = len(content & claim.content)
            if shared < needed:
                continue
            if claim.negated and shared < SAME_CLAIM_SHARE * len(claim.content):
                continue  # a long passage sentence negates a part of itself, maybe not this
            closeness = (shared, shared / len(claim.content))
            if claim.negated == said.negated:
                same = max(same, closeness)
                continue
            denied, only = (said, claim) if said.negated else (claim, said)
            if only.restrictive and denied.content - only.content:
                # The restriction's other side: the same fact ("can only be archived" →
                # "can't be deleted"), which explains the negation as well as any claim.
                explained = max(explained, shared)
                continue
            opposite = max(opposite, closeness)
        return opposite > same and opposite[0] > explained
