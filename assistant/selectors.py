"""Reads: which docs a reader may see, and which passages answer a question."""

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, Max

from .models import AUDIENCE_LEVELS, Audience, HelpDoc
from .text import fold, squeeze, terms

DOCS_VERSION_KEY = "assistant:docs-version"
# Bounds how stale another worker's view of the docs can be when the cache is per process.
DOCS_VERSION_TTL = 30

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"^\s{0,3}(#{1,6}|[-*+]|\d+\.|>)\s+|[*_`]{1,3}", re.MULTILINE)
_FRENCH = frozenset("le la les des une est comment pour dans avec je mon ma mes votre vos".split())
_ENGLISH = frozenset("the a an is how to for in with i my your what can".split())


def audience_for(user) -> str:
    if user is not None and getattr(user, "is_staff", False):
        return Audience.STAFF
    if user is not None and getattr(user, "is_authenticated", False):
        return Audience.AUTHENTICATED
    return Audience.PUBLIC


def visible_audiences(audience: str) -> list[str]:
    return [str(a) for a in AUDIENCE_LEVELS[: AUDIENCE_LEVELS.index(audience) + 1]]


# The version read from the shared cache is reused in-process for this long: one cache round
# trip less per question; another worker sees an edit at most this late.
_LOCAL_VERSION_SECONDS = 1.0
_local_version: tuple[float, str] | None = None


def docs_version() -> str:
    """Changes on every save or delete of a HelpDoc (the signal clears the cached value)."""
    global _local_version
    now = time.monotonic()
    if _local_version is not None and now - _local_version[0] < _LOCAL_VERSION_SECONDS:
        return _local_version[1]
    version = cache.get(DOCS_VERSION_KEY)
    if version is None:
        agg = HelpDoc.objects.aggregate(n=Count("id"), last=Max("updated"))
        last = agg["last"].timestamp() if agg["last"] else 0
        version = f"{agg['n']}-{last:.6f}"
        cache.set(DOCS_VERSION_KEY, version, DOCS_VERSION_TTL)
    _local_version = (now, version)
    return version


def docs_version_reset() -> None:
    global _local_version
    _local_version = None
    cache.delete(DOCS_VERSION_KEY)


def section_of(path: str) -> str:
    """The page's section: "/invoices/42/edit" → "/invoices/"."""
    parts = [p for p in (path or "/").split("?")[0].split("/") if p]
    return f"/{parts[0]}/" if parts else "/"


def guess_language(text: str) -> str:
    words = fold(text).split()
    fr = sum(w in _FRENCH for w in words)
    en = sum(w in _ENGLISH for w in words)
    return "fr" if fr > en else "en"


def markdown_to_text(body: str) -> str:
    return _MD_MARKS.sub("", _MD_LINK.sub(r"\1", body))


@dataclass(frozen=True)
class Passage:
    doc_id: int
    title: str
    url: str
    language: str
    prefixes: tuple[str, ...]
    text: str
    tf: Counter = field(compare=False, hash=False)
    length: int = 0


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    word_match: bool


class _Index:
    """BM25 over the passages (paragraphs, with their doc's title) of one audience's docs."""

    K1, B = 1.2, 0.75
    KEEP_RATIO = 0.4

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self.avg_len = sum(p.length for p in passages) / len(passages) if passages else 1.0
        df: Counter = Counter()
        for p in passages:
            df.update(p.tf.keys())
        n = len(passages)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def search(self, query_terms: list[str], path: str, language: str) -> list[Hit]:
        hits = []
        for p in self.passages:
            bm25 = 0.0
            for t in set(query_terms):
                f = p.tf.get(t, 0)
                if f:
                    norm = f + self.K1 * (1 - self.B + self.B * p.length / self.avg_len)
                    bm25 += self.idf[t] * f * (self.K1 + 1) / norm
            on_page = any(path.startswith(x) for x in p.prefixes)
            if not (bm25 > 0 or on_page):
                continue
            # The page boosts what the question matched; alone it ranks low (vague questions).
            score = (bm25 * 1.5 + 0.5) if on_page else bm25
            score *= 1.0 if p.language == language else 0.5
            hits.append(Hit(p, score, bm25 > 0))
        hits.sort(key=lambda h: h.score, reverse=True)
        # Weak matches only add noise to a small prompt.
        return [h for h in hits if h.score >= hits[0].score * self.KEEP_RATIO] if hits else []


_indexes: dict[tuple[str, str], _Index] = {}
_indexes_lock = threading.Lock()


def _passages_of(doc: HelpDoc) -> list[Passage]:
    text = markdown_to_text(doc.body)
    paragraphs = [squeeze(p) for p in re.split(r"\n\s*\n", text) if p.strip()]
    title_terms = terms(doc.title)
    out = []
    for para in paragraphs or [doc.title]:
        tf = Counter(title_terms + terms(para))
        out.append(
            Passage(
                doc_id=doc.pk,
                title=doc.title,
                url=doc.get_absolute_url(),
                language=doc.language,
                prefixes=tuple(doc.prefixes),
                text=para,
                tf=tf,
                length=sum(tf.values()),
            )
        )
    return out


def _index_for(audience: str) -> _Index:
    key = (docs_version(), audience)
    index = _indexes.get(key)
    if index is None:
        # Audience and published state filter FIRST: other docs never enter the index.
        docs = HelpDoc.objects.filter(published=True, audience__in=visible_audiences(audience))
        index = _Index([p for doc in docs for p in _passages_of(doc)])
        with _indexes_lock:
            if len(_indexes) > 32:
                _indexes.clear()
            _indexes[key] = index
    return index


def helpdoc_search(*, query: str, path: str, audience: str, language: str = "") -> list[Hit]:
    """Passages of the docs `audience` may see, best first, for `query` asked on `path`."""
    return _index_for(audience).search(terms(query), path or "/", language or guess_language(query))
