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
  dropped as unsupported.
"""

import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from django.urls import Resolver404, resolve

from assistant.answering.events import Queued, Token
from assistant.answering.prompt import DELIMITERS, Prompt
from assistant.helpdocs.text import terms, topic_terms

# A sentence ends at . ! ? followed by white space, or at a line break; a list number
# ("1. Open…") does not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])(?<!\b\d\.)(?<!\b\d\d\.)[ \t]+|\n+")
# A run-on "sentence" is checked once it is this long, so nothing waits forever.
MAX_SENTENCE = 400
_DANGEROUS_TAG = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed)\b", re.IGNORECASE)
_TAG = re.compile(r"</?\s*[a-zA-Z][^<>]*>|<!--.*?-->")
_DELIMITER = re.compile(
    "|".join(re.escape(d).replace("<", "[<‹]") for d in DELIMITERS)
    + r"|[‹›]|path=\"[^\"]*\"[>›]?",
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
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w.]*\d)")
_PRICE = re.compile(
    r"[$€£¥]\s?\d[\d,.]*|\d[\d,.]*\s?(?:€|\$|£|eur\b|usd\b|gbp\b|dollars?\b|euros?\b)", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*+])\s+")
# Below this share of its topic words found in the passages, a sentence is unsupported.
MIN_SUPPORT = 0.5


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass
class GuardReport:
    """What the guard removed from one answer, by kind."""

    removed: Counter = field(default_factory=Counter)
    kept_sentences: int = 0
    dropped_sentences: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.removed)


class Guard:
    """Feed it model text chunk by chunk; it returns the checked text ready for the reader."""

    def __init__(self, prompt: Prompt):
        source_text = prompt.passages_text
        # The docs' figures, not their list numbering ("2. Click…" supports no "2").
        body = "\n".join(_LIST_MARKER.sub("", line) for line in source_text.splitlines())
        self._numbers = {_digits(n) for n in _NUMBER.findall(body)}
        self._emails = {e.lower() for e in _EMAIL.findall(source_text)}
        self._support = set(terms(source_text)) | set(terms(prompt.question))
        self._sources = {s["url"] for s in prompt.sources}
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
                    out.append(self._check(self._buffer) + " ")
                    self._buffer = ""
                break
            sentence, sep = self._buffer[: match.start()], match.group()
            self._buffer = self._buffer[match.end() :]
            checked = self._check(sentence)
            if checked:
                out.append(checked + ("\n" if "\n" in sep else " "))
        return "".join(out)

    def finish(self) -> str:
        """The checked rest of the answer, once the model is done."""
        rest, self._buffer = self._buffer, ""
        return self._check(rest) if rest.strip() else ""

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
        if _DANGEROUS_TAG.search(sentence):
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
        if any(_digits(p) not in self._numbers for p in _PHONE.findall(body)):
            return self._drop("phone")
        if any(_digits(p) not in self._numbers for p in _PRICE.findall(body)):
            return self._drop("price")
        if any(_digits(n) not in self._numbers for n in _NUMBER.findall(body)):
            return self._drop("number")
        topic = topic_terms(body)
        if topic and len(topic & self._support) / len(topic) < MIN_SUPPORT:
            return self._drop("unsupported")
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if not re.search(r"\w", text):
            return ""
        self.report.kept_sentences += 1
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


async def guarded(
    items: AsyncIterator[Token | Queued], prompt: Prompt, report: GuardReport
) -> AsyncIterator[Token | Queued]:
    """A backend's events with its Token text checked (other events pass as they are); raises
    GuardRejected when the answer's first sentences all fail (or none passes), before
    anything reached the reader."""
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
    rest = guard.finish()
    if rest:
        yield Token(rest)
    if not report.kept_sentences:
        raise GuardRejected(dict(report.removed))
