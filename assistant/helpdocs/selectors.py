"""Reads: which docs a reader may see, and which sections answer a question."""

import dataclasses
import threading
from dataclasses import dataclass, field

from assistant.helpdocs import coverage, semantic
from assistant.helpdocs.coverage import COVERED, MAYBE, NONE, Evidence
from assistant.helpdocs.index import Hit, Passage, SectionIndex, passages_of
from assistant.helpdocs.markdown import render_markdown
from assistant.helpdocs.text import guess_language, terms, topic_terms
from assistant.helpdocs.version import docs_version, docs_version_reset
from assistant.models import AUDIENCE_LEVELS, Audience, HelpDoc

__all__ = [
    "COVERED",
    "MAYBE",
    "NONE",
    "Hit",
    "Passage",
    "Retrieval",
    "audience_for",
    "docs_version",
    "docs_version_reset",
    "guess_language",
    "helpdoc_html",
    "helpdoc_retrieve",
    "helpdoc_search",
    "section_of",
    "visible_audiences",
]


def audience_for(user) -> str:
    if user is not None and getattr(user, "is_staff", False):
        return Audience.STAFF
    if user is not None and getattr(user, "is_authenticated", False):
        return Audience.AUTHENTICATED
    return Audience.PUBLIC


def visible_audiences(audience: str) -> list[str]:
    return [str(a) for a in AUDIENCE_LEVELS[: AUDIENCE_LEVELS.index(audience) + 1]]


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


SECOND_SECTION_RATIO = 0.95
# The fused ranking's first sections weighed as candidates: the one most likely to answer
# the question leads (helpdocs.coverage).
CANDIDATES = 5


@dataclass(frozen=True)
class _Question:
    """A question as each language of the docs reads it: stemmed in that language."""

    queries: dict[str, list[str]]  # language → its search terms
    topics: dict[str, frozenset[str]]  # language → its topic terms
    weights: dict[str, dict[str, float]]  # language → each topic term's weight
    language: str  # the question's own, when its words tell ("" when they don't)

    @classmethod
    def of(cls, query: str, index: SectionIndex, language: str) -> "_Question":
        languages = set(index.language_set) | {language or "en"}
        queries = {lang: terms(query, lang) for lang in languages}
        topics = {lang: frozenset(topic_terms(query, lang)) for lang in languages}
        weights = {lang: {t: index.weight(t) for t in topics[lang]} for lang in languages}
        return cls(queries, topics, weights, language)

    def topic(self, language: str) -> frozenset[str]:
        return self.topics.get(language, self.topics.get(self.language or "en", frozenset()))

    def weight(self, language: str) -> dict[str, float]:
        return self.weights.get(language, self.weights.get(self.language or "en", {}))


def _share(terms_: frozenset[str] | set[str], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(weights[t] for t in terms_ if t in weights) / total if total else 0.0


def _evidence(
    hit: Hit, rank: int, q: _Question, index: SectionIndex, meaning, best_words: float
) -> Evidence:
    language = hit.passage.language
    topic, weights = q.topic(language), q.weight(language)
    matched = topic & hit.matched
    heading = topic & set(terms(hit.passage.title, language))
    similarity = gap = lead = 0.0
    agree = 0.0
    if meaning is not None:
        i = index.position[id(hit.passage)]
        similarity = float(meaning.similarity[i])
        closest = float(meaning.similarity[meaning.order[0]])
        gap = similarity - closest
        lead = (similarity - meaning.mean) / meaning.spread
        agree = float(meaning.order[0] == i and best_words > 0 and hit.words >= best_words)
    return Evidence(
        share=_share(matched, weights),
        count_share=len(matched) / len(topic) if topic else 0.0,
        heading=_share(heading, weights),
        words=hit.words / best_words if best_words else 0.0,
        meaning=similarity,
        meaning_gap=gap,
        meaning_lead=lead,
        agree=agree,
        rank=1 / (1 + rank),
    )


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    evidence: Evidence
    score: float  # how likely it is the question's section, of its candidates
    confidence: float  # how likely it answers the question (the coverage decision's)


def helpdoc_candidates(
    *, query: str, path: str, audience: str, prior: tuple[str, ...] = ()
) -> tuple[list[Hit], list[Candidate], "_Question", bool]:
    """The ranking for `query` (words and meaning fused, each doc's text read in its own
    language) and its first sections as candidates, each with the evidence that it answers
    the question and the probability that it does (helpdocs.coverage), and whether meaning
    was consulted."""
    index = index_for(audience)
    q = _Question.of(query, index, guess_language(query, default=""))
    hits = _with_prior(index, index.search(q.queries, path or "/", q.language), prior)
    meaning = None
    # Sure by words: the first section holds every topic word of the question: the cheaper
    # path (no question vector, 22 ms of CPU) measures as good there.
    first_topic = q.topic(hits[0].passage.language) if hits else frozenset()
    sure = bool(first_topic) and first_topic <= hits[0].matched
    # Meaning ranks every other question with words to read, also one whose words no doc
    # has ("nudge people who still owe me money").
    if index.vectors is not None and not sure and any(q.queries.values()):
        vector = semantic.query_vector(query)
        meaning = index.meaning(vector) if vector is not None else None
    best_words = max((h.words for h in hits), default=0.0)
    if meaning is not None:
        hits = index.fuse(hits, meaning, q.language, q.queries)
    candidates = []
    for rank, hit in enumerate(hits[:CANDIDATES]):
        evidence = _evidence(hit, rank, q, index, meaning, best_words)
        used = meaning is not None
        candidates.append(
            Candidate(
                hit,
                evidence,
                coverage.rank_score(evidence, meaning=used),
                coverage.confidence(evidence, meaning=used),
            )
        )
    return hits, candidates, q, meaning is not None


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


# A section of an article that answers a question about as surely as the article's opening,
# and ranks at least this close to it, answers instead: the opening is the overview.
SPECIFIC_RATIO = 0.8


def _specific(best: Candidate, candidates: list[Candidate], q: _Question) -> Candidate:
    if best.hit.passage.anchor:
        return best
    topic = q.topic(best.hit.passage.language)
    matched = len(topic & best.hit.matched)
    for other in candidates:
        if (
            other is not best
            and other.hit.passage.doc_id == best.hit.passage.doc_id
            and other.hit.score >= best.hit.score * SPECIFIC_RATIO
            and len(topic & other.hit.matched) >= matched
        ):
            return other
    return best


def helpdoc_retrieve(
    *, query: str, path: str, audience: str, language: str = "", prior: tuple[str, ...] = ()
) -> Retrieval:
    """Ranked sections for `query` and the coverage decision, made before any model call:
    the candidate most likely to answer leads, and its probability says `covered`, `maybe`
    or `none` (helpdocs.coverage). `language`: the reader's, for the topic terms when no
    section is found. `prior`: the sections an earlier turn cited (a follow-up's): their
    docs rank higher."""
    hits, candidates, q, meaning = helpdoc_candidates(
        query=query, path=path, audience=audience, prior=prior
    )

    def preferred(c: Candidate) -> float:
        # The question's own language orders the candidates as it orders the ranking.
        other = q.language and c.hit.passage.language != q.language
        return c.score * (SectionIndex.OTHER_LANGUAGE if other else 1.0)

    best = max(candidates, key=preferred, default=None)
    decision = coverage.decide(best.confidence, meaning=meaning) if best is not None else NONE
    if best is None or decision == NONE:
        topic_language = q.language or language or "en"
        topic, weights = q.topic(topic_language), q.weight(topic_language)
        related: list[Hit] = []  # sections sharing a topic word ("account" is none)
        for hit in hits:
            if q.topic(hit.passage.language) & hit.matched and hit.passage.doc_id not in {
                h.passage.doc_id for h in related
            }:
                related.append(hit)
        confidence = best.confidence if best is not None else 0.0
        return Retrieval(hits, NONE, topic, related=related[:2], weights=weights,
                         confidence=confidence)  # fmt: skip
    confidence = best.confidence  # the decision's, whichever section of the doc then leads
    best = _specific(best, candidates, q)
    first = best.hit
    topic, weights = q.topic(first.passage.language), q.weight(first.passage.language)
    ordered = [first] + [h for h in hits if h is not first]
    sections = [first.passage]
    # A second section joins only when it is clearly as relevant: as likely to answer, in the
    # same language, and ranked about as high.
    for other in candidates:
        if (
            decision == COVERED
            and other is not best
            and coverage.decide(other.confidence, meaning=meaning) == COVERED
            and len(topic & other.hit.matched) >= len(topic & first.matched)
            and other.hit.passage.language == first.passage.language
            and other.hit.score >= first.score * SECOND_SECTION_RATIO
        ):
            sections.append(other.hit.passage)
            break
    return Retrieval(ordered, decision, topic, sections=sections, weights=weights,
                     confidence=confidence)  # fmt: skip
