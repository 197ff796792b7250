"""The grounding guard: model text reaches the reader only after it is checked against the
passages that were in the prompt.

Text is checked a sentence at a time (the first sentence goes out as soon as it is complete),
so a link, number or tag split across tokens is always seen whole. Per sentence:
- HTML tags and the prompt's delimiters are removed; a sentence carrying a script, style or
  iframe tag is dropped;
- links: Markdown links keep their text and lose their target unless it is one of this site's
  paths or a source; bare URLs and domain names are removed;
- e-mail addresses, phone numbers, prices and other figures that the passages don't contain
  drop their sentence (a sentence without its number would say something else);
- a sentence whose topic words are mostly absent from the passages (and the question) is
  dropped as unsupported;
- a sentence naming a UI label the passages don't have, or saying the opposite of them, is
  dropped as `label` or `negation` (answering.steps);
- a "Yes." or "No." that opens the answer claims the question (asked, or negated): it is
  dropped when that says the opposite of the passages, and goes out with the sentence after it.
A checked sentence goes out as soon as it is complete, once the answer has named something of
the passages (one of their labels or figures, or what they say beyond the question's words).
Small talk ("Sure!", "Hope this helps") says nothing to check: it goes out beside the
sentences that do, never alone. A first sentence that names nothing waits for the next; when
that names nothing either, the answer is handed to the docs answer (within two sentences).
"""

import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import lru_cache

from django.urls import Resolver404, resolve

from assistant import detectors
from assistant.answering.events import Queued, Token
from assistant.answering.prompt import DELIMITERS, Prompt
from assistant.answering.steps import UI_VERBS, StepChecks, labels_in, negated
from assistant.helpdocs.text import terms, topic_terms

# A sentence ends at . ! ? followed by white space, or at a line break; a list number
# ("1. Open…") does not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])(?<!\b\d\.)(?<!\b\d\d\.)[ \t]+|\n+")
# A run-on "sentence" is checked once it is this long, so nothing waits forever.
MAX_SENTENCE = 400
_DANGEROUS_TAG = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed)\b", re.IGNORECASE)
_TAG = re.compile(r"</?\s*[a-zA-Z][^<>]*>|<!--.*?-->")
# The prompt's delimiters, as written or as the prompt neutralised them (‹docs›); a lone ›
# is a menu path's ("Settings › Sharing"), not a delimiter.
_DELIMITER = re.compile(
    "|".join(re.escape(d).replace("<", "[<‹]").replace(">", "[>›]") for d in DELIMITERS)
    + r"|‹/?\s*(?:docs|page|question)\b[^›]*›?|path=\"[^\"]*\"[>›]?",
    re.IGNORECASE,
)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]*)\)")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]\"']+|(?:javascript|data|mailto):\S+", re.I)
_TLDS = (
    "com|net|org|io|co|app|dev|info|biz|me|us|uk|fr|de|ai|xyz|site|online|shop|store|tech|eu|"
    "ca|au|in|ru|nl|es|it|ch|be|ly|gl|tv|cc|link|help|support|live|cloud|pro|page"
)
_DOMAIN = re.compile(rf"\b(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s)]*)?", re.IGNORECASE)
_EMAIL = detectors.EMAIL
_PHONE = detectors.PHONE
_PRICE = re.compile(
    r"[$€£¥]\s?\d[\d,.]*|\d[\d,.]*\s?(?:€|\$|£|eur\b|usd\b|gbp\b|dollars?\b|euros?\b)", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*+])\s+")
# "Yes." / "No, …" opening a reply (not "No problem"): it answers the question.
_REPLY = re.compile(r"^\s*(yes|yeah|yep|no|nope|oui|non)\s*(?:[.,!:;—–-]+\s*|$)", re.IGNORECASE)
# A question a "Yes." or "No." answers (elsewhere it only acknowledges: "Yes, lock it.").
_YES_NO_QUESTION = re.compile(
    r"\s*(?:can|could|is|are|was|were|do|does|did|will|would|should|may|might|must|has|have"
    r"|est-ce|peut-on|puis-je|peux-je|dois-je|faut-il|y a-t-il|(?:\w+-(?:je|tu|il|elle|on|nous"
    r"|vous|ils|elles)))\b",
    re.IGNORECASE,
)
# Terms of the passages beyond the question's that make a sentence say something specific.
SPECIFIC_TERMS = 1
# The words of small talk in any help chat, and of asides ("Note that…", "Keep in mind…"),
# in English and French: a sentence made of them alone says nothing to check, and they are no
# unsupported claim in one that does.
SMALL_TALK = frozenset(
    """sure certainly absolutely course great good question glad happy hope helps help
    welcome thanks thank cheers luck problem worries let know else anything further feel free
    ask here steps below follows following just enjoy note keep mind bear aware remember
    volontiers bien entendu sur certes bonne question heureux ravi espere aide aider aidera
    merci chance probleme hesitez voici etapes suit suivantes simple facile notez gardez
    esprit rappel""".split()
)

# Below this share of its topic words found in the passages, a sentence is unsupported.
MIN_SUPPORT = 0.5


@lru_cache(maxsize=4)
def _no_claim(language: str) -> frozenset[str]:
    return frozenset(terms(" ".join(SMALL_TALK | UI_VERBS), language))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass
class GuardReport:
    """What the guard removed from one answer, by kind."""

    removed: Counter = field(default_factory=Counter)
    kept_sentences: int = 0
    dropped_sentences: int = 0
    held_sentences: int = 0  # kept, not yet out: the answer has named nothing specific yet
    talk_sentences: int = 0  # kept, saying nothing to check (small talk, a bare "Yes.")

    def as_dict(self) -> dict[str, int]:
        return dict(self.removed)


@dataclass(frozen=True)
class _Passages:
    """What the guard reads of the passages: the same for every answer drawn from them."""

    numbers: frozenset[str]
    emails: frozenset[str]
    terms: frozenset[str]
    steps: StepChecks


# Read once per set of passages, not once per answer: a burst of questions on the same help
# sections built the same checks a thousand times, on the event loop, between the openings
# of the other streams (`make bench`, the load section's profile).
@lru_cache(maxsize=256)
def _passages(source_text: str, language: str) -> _Passages:
    # The docs' figures, not their list numbering ("2. Click…" supports no "2").
    body = "\n".join(_LIST_MARKER.sub("", line) for line in source_text.splitlines())
    return _Passages(
        numbers=frozenset(_digits(n) for n in _NUMBER.findall(body)),
        emails=frozenset(e.lower() for e in _EMAIL.findall(source_text)),
        terms=frozenset(terms(source_text, language)),
        steps=StepChecks(source_text, language),
    )


class Guard:
    """Feed it model text chunk by chunk; it returns the checked text ready for the reader."""

    def __init__(self, prompt: Prompt):
        # The answer is in the question's language: its words are stemmed as such.
        self._language = prompt.language
        passages = _passages(prompt.passages_text, prompt.language)
        self._numbers, self._emails = passages.numbers, passages.emails
        self._question = prompt.question
        self._asked = set(terms(prompt.question, self._language))
        self._passage_terms = passages.terms
        self._support = passages.terms | self._asked
        self._sources = {s["url"] for s in prompt.sources}
        self._steps = passages.steps
        # Passages all in another language than the answer's: its negations can't be compared.
        self._foreign = bool(prompt.passages) and all(
            h.passage.language != self._language for h in prompt.passages
        )
        # Whether the answer has named something of the passages yet (nothing to name, when
        # the passages have neither labels nor figures).
        self._specific = not (self._steps.has_labels or self._numbers)
        self._held: list[str] = []  # a first sentence that named nothing, out with the next
        self._talk: list[str] = []  # small talk, out beside the next checked sentence
        self._says = False  # whether the sentence just checked says something to check
        self._in_code = False  # inside a code fence the model opened
        self._buffer = ""
        self.report = GuardReport()

    # --- streaming ------------------------------------------------------------------------
    def feed(self, chunk: str) -> str:
        """The checked text of every sentence that `chunk` completed ("" while none did)."""
        self._buffer += chunk
        out = []
        while True:
            match = _BOUNDARY.search(self._buffer)
            if match is None:
                if len(self._buffer) > MAX_SENTENCE:
                    checked, self._buffer = self._check(self._buffer), ""
                    if checked:
                        out.append(self._release(checked, checked + " "))
                break
            sentence, sep = self._buffer[: match.start()], match.group()
            self._buffer = self._buffer[match.end() :]
            checked = self._check(sentence)
            if checked:
                out.append(self._release(checked, checked + ("\n" if "\n" in sep else " ")))
        return "".join(out)

    def finish(self) -> str:
        """The checked rest of the answer, once the model is done ("" and nothing ever out
        when the answer named nothing specific: `holding`). Small talk left over goes out
        after an answer that went out (a closing "Hope this helps!"), else nowhere."""
        rest, self._buffer = self._buffer, ""
        checked = self._check(rest) if rest.strip() else ""
        out = self._release(checked, checked) if checked else ""
        if self._specific and not self._held and self.report.kept_sentences:
            out, self._talk = out + "".join(self._talk), []
        return out

    @property
    def holding(self) -> bool:
        """Nothing has gone out yet: the answer has named nothing of the passages."""
        return not self._specific

    def _release(self, sentence: str, text: str) -> str:
        """`text` (a checked sentence) with the small talk and the sentence held before it, at
        once when the answer has named something of the passages; until then "" (held). Small
        talk itself waits for the next sentence that says something."""
        if not self._says:
            self._talk.append(text)
            self.report.talk_sentences += 1
            return ""
        text, self._talk = "".join(self._talk) + text, []
        if not self._specific and self._names_something(sentence):
            self._specific = True
        if not self._specific:
            self._held.append(text)
            self.report.held_sentences = len(self._held)
            return ""
        out, self._held = "".join(self._held) + text, []
        self.report.held_sentences = 0
        return out

    def _names_something(self, sentence: str) -> bool:
        """A label or a figure of the passages, or what they say beyond the question's words
        (SPECIFIC_TERMS of their topic terms): not a restatement of the question."""
        if self._steps.names_label(sentence, self._question):
            return True
        if any(_digits(n) in self._numbers for n in _NUMBER.findall(sentence)):
            return True
        beyond = topic_terms(sentence, self._language) & self._passage_terms - self._asked
        return len(beyond) >= SPECIFIC_TERMS

    # --- one sentence -----------------------------------------------------------------------
    def _drop(self, kind: str) -> str:
        self.report.removed[kind] += 1
        self.report.dropped_sentences += 1
        return ""

    def _strip(self, pattern: re.Pattern, text: str, kind: str) -> str:
        text, n = pattern.subn("", text)
        if n:
            self.report.removed[kind] += n
        return text

    def _check(self, sentence: str) -> str:
        if not sentence.strip():
            return ""
        # A help answer holds no code: a fenced block is markup, from fence to fence.
        if sentence.lstrip().startswith(("```", "~~~")):
            self._in_code = not self._in_code
            return self._drop("markup")
        if self._in_code or _DANGEROUS_TAG.search(sentence):
            return self._drop("markup")
        text = self._strip(_DELIMITER, sentence, "delimiter")
        text = self._strip(_TAG, text, "markup")
        text = self._strip(_MD_IMAGE, text, "markup")
        # Before links are stripped: the domain of an invented address is part of it.
        if any(e.lower() not in self._emails for e in _EMAIL.findall(text)):
            return self._drop("email")
        text = _MD_LINK.sub(self._link, text)
        text = self._strip(_URL, text, "link")
        text = self._strip(_DOMAIN, text, "link")
        body = _LIST_MARKER.sub("", text)
        reply = _REPLY.match(body)
        if reply:
            # "Yes." claims what the question asks; "No." its opposite. The rest is checked on
            # its own ("No, it can only be archived" is not negated by its "No").
            yes = reply.group(1).lower() in ("yes", "yeah", "yep", "oui")
            asks = _YES_NO_QUESTION.match(self._question)
            if asks and self._steps.contradicts_reply(self._question, yes):
                return self._drop("negation")
            body = body[reply.end() :]
        if any(_digits(p) not in self._numbers for p in _PHONE.findall(body)):
            return self._drop("phone")
        if any(_digits(p) not in self._numbers for p in _PRICE.findall(body)):
            return self._drop("price")
        if any(_digits(n) not in self._numbers for n in _NUMBER.findall(body)):
            return self._drop("number")
        topic = topic_terms(body, self._language) - _no_claim(self._language)
        # The passages' figures it carries are support too (each one is theirs by now).
        figures = len(_NUMBER.findall(body))
        if topic and (len(topic & self._support) + figures) / (len(topic) + figures) < MIN_SUPPORT:
            return self._drop("unsupported")
        if self._steps.unknown_label(body):
            return self._drop("label")
        if self._steps.contradicts(body):
            return self._drop("negation")
        if self._foreign and negated(body):
            return self._drop("negation")  # passages in another language: nothing to compare
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if not re.search(r"\w", text):
            return ""
        self._says = bool(topic or _NUMBER.search(body) or labels_in(body))
        self.report.kept_sentences += self._says
        return text

    def _link(self, match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if self._allowed_target(target):
            return match.group(0)
        self.report.removed["link"] += 1
        return label

    def _allowed_target(self, target: str) -> bool:
        """This site's own paths only (a source, or a page the site serves)."""
        if target in self._sources:
            return True
        if not target.startswith("/") or target.startswith("//"):
            return False
        try:
            resolve(target.split("?")[0].split("#")[0])
        except Resolver404:
            return False
        return True


def screen_quote(sentence: str) -> str:
    """A doc sentence fit to quote to the reader: "" when it carries a script (an injected
    doc), else without tags, delimiters and links to other sites (docs are data too)."""
    if _DANGEROUS_TAG.search(sentence):
        return ""
    text = sentence
    for pattern in (_DELIMITER, _TAG, _MD_IMAGE, _URL, _DOMAIN):
        text = pattern.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class GuardRejected(Exception):
    """The guard kept too little of a model's answer: the reader gets the docs answer."""


# Sentences dropped before any was kept that make the guard give up on the model's answer.
REJECT_AFTER_DROPPED = 2
# Sentences kept without naming anything specific that make it give up too.
REJECT_AFTER_HELD = 2


async def guarded(
    items: AsyncIterator[Token | Queued], prompt: Prompt, report: GuardReport
) -> AsyncIterator[Token | Queued]:
    """A backend's events with its Token text checked (other events pass as they are); raises
    GuardRejected when the answer's first sentences all fail (or none passes), or it names
    nothing specific of the passages, before anything reached the reader."""
    guard = Guard(prompt)
    guard.report = report
    async with aclosing(items):
        async for item in items:
            if not isinstance(item, Token):
                yield item
                continue
            text = guard.feed(item.text)
            if text:
                yield Token(text)
            elif not report.kept_sentences and report.dropped_sentences >= REJECT_AFTER_DROPPED:
                raise GuardRejected(dict(report.removed))
            elif guard.holding and report.held_sentences >= REJECT_AFTER_HELD:
                report.removed["unspecific"] += 1
                raise GuardRejected(dict(report.removed))
    rest = guard.finish()
    if rest:
        yield Token(rest)
    if guard.holding and report.kept_sentences:
        report.removed["unspecific"] += 1
    if not report.kept_sentences or guard.holding:
        raise GuardRejected(dict(report.removed))
