"""Reads: which docs a reader may see, and which sections answer a question."""

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, Max

from assistant.helpdocs import semantic
from assistant.helpdocs.index import Hit, Passage, SectionIndex, passages_of
from assistant.helpdocs.markdown import render_markdown
from assistant.helpdocs.text import guess_language, terms, topic_terms
from assistant.models import AUDIENCE_LEVELS, Audience, HelpDoc, SectionVector

__all__ = [
    "COVERED",
    "MAYBE",
    "NONE",
    "Hit",
    "Passage",
    "Retrieval",
    "audience_for",
    "docs_version",
    "guess_language",
    "helpdoc_html",
    "helpdoc_retrieve",
    "helpdoc_search",
    "section_of",
    "visible_audiences",
]

DOCS_VERSION_KEY = "assistant:docs-version"
# Bounds how stale another worker's view of the docs can be when the cache is per process.
DOCS_VERSION_TTL = 30


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
_version_lock = threading.Lock()


def docs_version() -> str:
    """Changes on every save or delete of a HelpDoc (the signal clears the cached value), and
    when the embedding task has stored vectors."""
    now = time.monotonic()
    if _local_version is not None and now - _local_version[0] < _LOCAL_VERSION_SECONDS:
        return _local_version[1]
    # One thread reads it; the others of a burst wait and take its answer (not a database
    # query each when the cache has lost it).
    with _version_lock:
        if _local_version is not None and now - _local_version[0] < _LOCAL_VERSION_SECONDS:
            return _local_version[1]
        return _read_docs_version(now)


def _read_docs_version(now: float) -> str:
    global _local_version
    version = cache.get(DOCS_VERSION_KEY)
    if version is None:
        agg = HelpDoc.objects.aggregate(n=Count("id"), last=Max("updated"))
        last = agg["last"].timestamp() if agg["last"] else 0
        # Vectors stored since (the embedding task's) rebuild the indexes with meaning.
        version = f"{agg['n']}-{last:.6f}-{SectionVector.objects.count()}"
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


def helpdoc_html(*, doc: HelpDoc, audience: str) -> str:
    """A doc's page body; its links to other docs' files go to their pages, if `audience`
    may read them."""
    readable = HelpDoc.objects.filter(published=True, audience__in=visible_audiences(audience))

    def doc_url(slug: str) -> str | None:
        found = readable.filter(slug=slug).first()
        return found.get_absolute_url() if found else None

    return render_markdown(doc.body, doc.title, doc_url)


_indexes: dict[tuple[str, str], SectionIndex] = {}
_indexes_lock = threading.Lock()


def build_index(audience: str) -> SectionIndex:
    """The sections of the published docs `audience` may see (the audience and published
    state filter FIRST: other docs never enter the index)."""
    docs = HelpDoc.objects.filter(published=True, audience__in=visible_audiences(audience))
    entries = []
    fields = ("id", "slug", "language", "path_prefixes", "keywords", "sections", "body", "title")
    for doc in docs.only(*fields).iterator(chunk_size=200):
        entries += passages_of(
            doc_id=doc.pk,
            url=doc.get_absolute_url(),
            language=doc.text_language,
            prefixes=tuple(doc.prefixes),
            sections=doc.parsed_sections(),
            keywords=doc.keywords,
        )
    texts = [semantic.section_text(p.title, p.text) for p, _ in entries]
    return SectionIndex(entries, semantic.section_vectors(texts))


def index_for(audience: str) -> SectionIndex:
    """The audience's index for the current docs version, built once per process: a burst
    of questions on a cold worker waits for one build (each request's thread building its
    own, with a database connection each, ran PostgreSQL out of connections)."""
    key = (docs_version(), audience)
    index = _indexes.get(key)
    if index is None:
        with _indexes_lock:
            index = _indexes.get(key)
            if index is None:
                index = build_index(audience)
                if len(_indexes) > 32:
                    _indexes.clear()
                _indexes[key] = index
    return index


def helpdoc_search(*, query: str, path: str, audience: str, language: str = "") -> list[Hit]:
    """Sections of the docs `audience` may see, best first, for `query` asked on `path`."""
    return helpdoc_retrieve(query=query, path=path, audience=audience, language=language).hits


@dataclass(frozen=True)
class Retrieval:
    """What the docs say about a question: ranked sections, and whether they cover it."""

    hits: list[Hit]
    coverage: str  # COVERED, MAYBE or NONE: how well the docs cover the question
    topic: frozenset[str]  # the question's topic terms
    # The covering sections (best first), for the docs answer.
    sections: list[Passage] = field(default_factory=list)
    related: list[Hit] = field(default_factory=list)  # near matches when not covered
    weights: dict[str, float] = field(default_factory=dict)  # each topic term's weight
    confidence: float = 0.0  # the evidence that the docs answer it, 0 to 1 (helpdocs.coverage)

    @property
    def covered(self) -> bool:
        return self.coverage == COVERED


# How well the docs cover a question (the API's `coverage`): `maybe` where the evidence is
# between: the best section is offered as possibly relevant, never as a sure answer.
COVERED, MAYBE, NONE = "covered", "maybe", "none"

SECOND_SECTION_RATIO = 0.95
# The share of the question's topic (each term weighed by how rare it is in the docs) that a
# section of three or more topic terms must hold.
COVERED_SHARE = 0.5


def terms_needed(topic: set[str] | frozenset[str]) -> int:
    """How many of a question's topic terms one section must match to cover it: all of one
    or two ("delete a client" is not covered by a doc on creating one), half of more."""
    return len(topic) if len(topic) <= 2 else math.ceil(len(topic) / 2)


def covers(hit: Hit, topic: frozenset[str], weights: dict[str, float]) -> bool:
    """Whether one section covers a question: enough of its topic terms (terms_needed), and
    of three or more, at least COVERED_SHARE of their weight, so that the common words of
    the docs ("post" in a social network's) can't cover for a rare one they lack."""
    matched = topic & hit.matched
    if not topic or len(matched) < terms_needed(topic):
        return False
    total = sum(weights.values())
    return len(topic) <= 2 or sum(weights[t] for t in matched) >= COVERED_SHARE * total


# Meaning covers for missing words only where both rankings agree: the section closest in
# meaning is also the first by words, and the words it matches carry this share of the
# topic's weight.
MEANING_SHARE = 1 / 3


@dataclass(frozen=True)
class _Question:
    terms: frozenset[str]
    topic: frozenset[str]
    weights: dict[str, float]
    language: str


def _rescued(hit: Hit, q: _Question, closest: Passage, first_by_words: Passage) -> bool:
    """A section whose words cover only part of the question still covers it when it is
    both the closest in meaning and the first by words, and its words carry MEANING_SHARE."""
    if hit.passage is not closest or hit.passage is not first_by_words:
        return False
    matched = q.topic & hit.matched
    return bool(matched) and (
        sum(q.weights[t] for t in matched) >= MEANING_SHARE * sum(q.weights.values())
    )


def _with_meaning(
    index: SectionIndex, hits: list[Hit], q: _Question, question: str
) -> tuple[list[Hit], Hit | None] | None:
    """The ranking fused with meaning, and the first section covering the question by words
    or rescued by meaning; None without the model."""
    vector = semantic.query_vector(question)
    meaning = index.meaning(vector) if vector is not None else None
    if meaning is None or not hits:
        return None
    # The closest of the reader's language, when it has any (as the ranking prefers it).
    same = (i for i in meaning.order if index.passages[i].language == q.language)
    closest = index.passages[next(same, meaning.order[0])]
    first_by_words = max(hits, key=lambda h: h.words).passage
    fused = index.fuse(hits, meaning, q.language, q.terms)
    first = next(
        (
            h
            for h in fused
            if covers(h, q.topic, q.weights) or _rescued(h, q, closest, first_by_words)
        ),
        None,
    )
    return fused, first


# The docs an earlier turn's answer cited rank this much higher for its follow-up.
PRIOR_BOOST = 1.25


def _with_prior(index: SectionIndex, hits: list[Hit], prior: tuple[str, ...]) -> list[Hit]:
    docs = {index.doc_of_url[url] for url in prior if url in index.doc_of_url}
    if not docs:
        return hits
    boosted = [
        dataclasses.replace(h, score=h.score * PRIOR_BOOST) if h.passage.doc_id in docs else h
        for h in hits
    ]
    return sorted(boosted, key=lambda h: -h.score)


# A section of an article that covers a question as well as the article's opening, and ranks
# at least this close to it, answers instead: the opening is the article's overview.
SPECIFIC_RATIO = 0.8


def _specific(first: Hit, hits: list[Hit], q: _Question) -> Hit:
    if first.passage.anchor:
        return first
    matched = len(q.topic & first.matched)
    for hit in hits:
        if (
            hit.passage.doc_id == first.passage.doc_id
            and hit is not first
            and hit.score >= first.score * SPECIFIC_RATIO
            and len(q.topic & hit.matched) >= matched
        ):
            return hit
    return first


def helpdoc_retrieve(
    *, query: str, path: str, audience: str, language: str = "", prior: tuple[str, ...] = ()
) -> Retrieval:
    """Ranked sections for `query` and the coverage decision, made before any model call on
    the best section that covers the question (its heading path and doc title count). Page-
    only hits never make coverage. Meaning (helpdocs.semantic) ranks too, and may cover for
    missing words, unless the first section by words holds every topic word: it costs 22 ms
    of CPU a question. `prior`: the sections an earlier turn cited (a follow-up's): their
    docs rank higher."""
    index = index_for(audience)
    language = language or guess_language(query)
    query_terms = terms(query, language)
    hits = _with_prior(index, index.search(query_terms, path or "/", language), prior)
    topic = frozenset(topic_terms(query, language))
    q = _Question(frozenset(query_terms), topic, {t: index.weight(t) for t in topic}, language)
    weights = q.weights
    first = next((h for h in hits if covers(h, topic, weights)), None)
    # Sure by words: the first section (with the page's context) holds every topic word.
    sure = first is not None and first is hits[0] and topic <= first.matched
    if index.vectors is not None and topic and not sure:
        hits, first = _with_meaning(index, hits, q, query) or (hits, first)
    if first is not None:
        first = _specific(first, hits, q)
    if first is None:
        related: list[Hit] = []  # sections sharing a topic word ("account" is none)
        for hit in hits:
            if topic & hit.matched and hit.passage.doc_id not in {
                h.passage.doc_id for h in related
            }:
                related.append(hit)
        return Retrieval(hits, NONE, topic, related=related[:2], weights=weights)
    # The best covering section leads; a second joins only when it is clearly as relevant:
    # it covers as much, in the same language, and ranks about as high.
    ordered = [first] + [h for h in hits if h is not first]
    sections = [first.passage]
    matched = len(topic & first.matched)
    for hit in ordered[1:]:
        if (
            len(topic & hit.matched) >= matched
            and hit.passage.language == first.passage.language
            and hit.score >= first.score * SECOND_SECTION_RATIO
        ):
            sections.append(hit.passage)
            break
    return Retrieval(ordered, COVERED, topic, sections=sections, weights=weights)
