"""The ranked unit is a section: one index of the published sections an audience may see,
built once per docs version per process, searched by BM25 through postings (only sections
sharing a word with the question are scored).

A section's words count once in its text and again in its headings: its own heading (what
the section is about) more than the headings above it and its doc's title.
"""

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from assistant.helpdocs.parsing import Block, Section
from assistant.helpdocs.text import terms

# Field weights: a word of the section's own heading counts this many times its text's.
OWN_HEADING_WEIGHT = 4
PATH_WEIGHT = 1.0  # the doc's title and the headings above


@dataclass(frozen=True, eq=False, slots=True)
class Passage:
    """One section of a published doc, as retrieval ranks, quotes and cites it."""

    doc_id: int
    title: str  # the heading path: "Payments › Refunds"
    anchor: str  # "" for the article's opening (the text before its first heading)
    url: str  # the doc page with the section's anchor
    language: str
    prefixes: tuple[str, ...]
    blocks: tuple[Block, ...]
    tf: dict[str, float]  # field-weighted term frequencies
    length: float
    terms_of_blocks: tuple[frozenset[str], ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(b.plain for b in self.blocks)


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float
    word_match: bool
    words: float = 0.0  # the BM25 of the words alone (no page, no meaning)


def passages_of(
    *,
    doc_id: int,
    url: str,
    language: str,
    prefixes: tuple[str, ...],
    sections: list[Section],
    keywords: str = "",
) -> list[Passage]:
    """A doc's sections with text, ready to index. The doc's keywords count like its title."""
    out = []
    keyword_terms = terms(keywords.replace(",", " "), language)
    for section in sections:
        if not section.blocks:
            continue  # a heading whose text is all in its subsections
        block_terms = tuple(frozenset(terms(b.plain, language)) for b in section.blocks)
        tf: Counter = Counter()
        for block in section.blocks:
            tf.update(terms(block.plain, language))
        *path, own = section.headings
        for term in terms(own, language):
            tf[term] += OWN_HEADING_WEIGHT if path else PATH_WEIGHT
        for term in terms(" ".join(path), language) + keyword_terms:
            tf[term] += PATH_WEIGHT
        out.append(
            Passage(
                doc_id=doc_id,
                title=section.title,
                anchor=section.anchor,
                url=f"{url}#{section.anchor}" if section.anchor else url,
                language=language,
                prefixes=prefixes,
                blocks=section.blocks,
                tf=dict(tf),
                length=sum(tf.values()),
                terms_of_blocks=block_terms,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Meaning:
    """How close each section is in meaning to a question: the sections by similarity, and
    how far the closest stands above the rest (standard deviations over all sections)."""

    order: list[int]
    similarity: np.ndarray
    lead: float


class SectionIndex:
    """BM25 over sections, with postings; the sections' vectors when there is a model."""

    K1, B = 1.2, 0.75
    KEEP_RATIO = 0.4  # weak matches only add noise to a small prompt
    RRF_K = 10  # reciprocal rank fusion: 1 / (K + rank), for each ranking a section is in
    WORDS_WEIGHT = 0.3
    MEANING_DEPTH = 20  # the sections ranked by meaning that join the fusion

    def __init__(self, passages: list[Passage], vectors: np.ndarray | None = None):
        self.passages = passages
        self.vectors = vectors
        self.position = {id(p): i for i, p in enumerate(passages)}
        self.avg_len = sum(p.length for p in passages) / len(passages) if passages else 1.0
        postings: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            for term in p.tf:
                postings.setdefault(term, []).append(i)
        self.postings = postings
        n = len(passages)
        self.idf = {
            t: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5)) for t, ids in postings.items()
        }
        # A word no section has is as telling as the rarest one (coverage weighs by it).
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        self.by_prefix: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            for prefix in p.prefixes:
                self.by_prefix.setdefault(prefix, []).append(i)

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def meaning(self, query_vector: np.ndarray) -> Meaning | None:
        if self.vectors is None or not len(self.passages):
            return None
        similarity = self.vectors @ query_vector
        order = [int(i) for i in np.argsort(-similarity, kind="stable")]
        spread = float(similarity.std()) or 1.0
        return Meaning(order, similarity, float(similarity[order[0]] - similarity.mean()) / spread)

    def fuse(self, hits: list[Hit], meaning: Meaning, language: str) -> list[Hit]:
        """The word ranking and the meaning ranking in one (reciprocal rank fusion); a
        section in another language than the reader's counts half by meaning, as by words."""
        fused: dict[int, float] = {}
        by_words = {}
        for rank, hit in enumerate(hits):
            i = self.position[id(hit.passage)]
            fused[i] = 1 / (self.RRF_K + rank)
            by_words[i] = hit
        for rank, i in enumerate(meaning.order[: self.MEANING_DEPTH]):
            same = self.passages[i].language == language
            fused[i] = fused.get(i, 0.0) + (1.0 if same else 0.5) / (self.RRF_K + rank)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        top = fused[ranked[0]]
        out = []
        for i in ranked:
            if fused[i] >= top * self.KEEP_RATIO:
                hit = by_words.get(i)
                words = hit.words if hit else 0.0
                out.append(Hit(self.passages[i], fused[i], words > 0, words))
        return out

    def search(self, query_terms: list[str], path: str, language: str) -> list[Hit]:
        scores: dict[int, float] = {}
        for term in set(query_terms):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                p = self.passages[i]
                f = p.tf[term]
                norm = f + self.K1 * (1 - self.B + self.B * p.length / self.avg_len)
                scores[i] = scores.get(i, 0.0) + idf * f * (self.K1 + 1) / norm
        on_page = {
            i for prefix, ids in self.by_prefix.items() if path.startswith(prefix) for i in ids
        }
        ranked = []
        for i in scores.keys() | on_page:
            bm25 = scores.get(i, 0.0)
            p = self.passages[i]
            # The page boosts what the question matched; alone it ranks low (vague questions).
            score = (bm25 * 1.5 + 0.5) if i in on_page else bm25
            score *= 1.0 if p.language == language else 0.5
            ranked.append((-score, i, Hit(p, score, bm25 > 0, bm25)))
        ranked.sort(key=lambda r: r[:2])  # best first; ties in the docs' own order
        hits = [hit for _, _, hit in ranked]
        return [h for h in hits if h.score >= hits[0].score * self.KEEP_RATIO] if hits else []
