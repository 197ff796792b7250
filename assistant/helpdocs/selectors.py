"""Reads: which docs a reader may see, and which passages answer a question."""

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, Max

from assistant.helpdocs.text import fold, squeeze, terms, topic_terms
from assistant.models import AUDIENCE_LEVELS, Audience, HelpDoc

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


def markdown_to_labelled_text(body: str) -> str:
    """Like markdown_to_text, but **bold** UI labels stay: the docs answer shows them."""
    text = _MD_LINK.sub(r"\1", body)
    text = re.sub(r"^\s{0,3}(#{1,6}|[-*+]|\d+\.|>)\s+", "", text, flags=re.MULTILINE)
    return re.sub(r"(?<!\*)\*(?!\*)|_{1,3}|`{1,3}", "", text)


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
    labelled: str = ""  # the paragraph with its **UI labels**


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
    paragraphs = [p for p in re.split(r"\n\s*\n", doc.body) if p.strip()] or [doc.title]
    title_terms = terms(doc.title)
    out = []
    for raw in paragraphs:
        para = squeeze(markdown_to_text(raw))
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
                labelled=squeeze(markdown_to_labelled_text(raw)),
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
    return helpdoc_retrieve(query=query, path=path, audience=audience, language=language).hits


@dataclass(frozen=True)
class Retrieval:
    """What the docs say about a question: ranked passages, and whether they cover it."""

    hits: list[Hit]
    covered: bool
    topic: frozenset[str]  # the question's topic terms
    # The covering docs' passages in the doc's order (best doc first), for the docs answer.
    docs: list[list[Passage]] = field(default_factory=list)
    related: list[Hit] = field(default_factory=list)  # near matches when not covered


SECOND_DOC_RATIO = 0.95


def terms_needed(topic: set[str] | frozenset[str]) -> int:
    """How many of a question's topic terms one passage must match to cover it: all of one
    or two ("delete a client" is not covered by a doc on creating one), half of more."""
    return len(topic) if len(topic) <= 2 else math.ceil(len(topic) / 2)


def _doc_passages(index: _Index, doc_id: int) -> list[Passage]:
    return [p for p in index.passages if p.doc_id == doc_id]


def helpdoc_retrieve(*, query: str, path: str, audience: str, language: str = "") -> Retrieval:
    """Ranked passages for `query` and the coverage decision, made before any model call: the
    question's topic terms (after synonyms and stemming; generic words like "account" do not
    count) must be matched by one passage. Page-only hits never make coverage."""
    index = _index_for(audience)
    hits = index.search(terms(query), path or "/", language or guess_language(query))
    topic = frozenset(topic_terms(query))

    def matched(hit: Hit) -> int:
        return len(topic & hit.passage.tf.keys())

    best = max(hits, key=matched, default=None)
    best_n = matched(best) if best else 0
    if not topic or best_n < terms_needed(topic):
        related = []
        for hit in hits:
            if matched(hit) and hit.passage.doc_id not in {h.passage.doc_id for h in related}:
                related.append(hit)
        return Retrieval(hits=hits, covered=False, topic=topic, related=related[:2])
    # The best covering passage leads; a second doc joins only when it is clearly as relevant:
    # it covers as much, in the same language, and ranks about as high.
    first = best if hits[0] is not best and matched(hits[0]) < best_n else hits[0]
    ordered = [first] + [h for h in hits if h is not first]
    doc_ids = [first.passage.doc_id]
    for hit in ordered[1:]:
        if (
            hit.passage.doc_id not in doc_ids
            and matched(hit) >= best_n
            and hit.passage.language == first.passage.language
            and hit.score >= first.score * SECOND_DOC_RATIO
        ):
            doc_ids.append(hit.passage.doc_id)
            break
    return Retrieval(
        hits=ordered,
        covered=True,
        topic=topic,
        docs=[_doc_passages(index, d) for d in doc_ids],
    )
