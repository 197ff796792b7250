"""The ranked unit is a section: one index of the published sections an audience may see,
built once per docs version per process, searched by BM25 over numpy postings (a question
costs a few array operations per word, whatever the corpus' size).

A section's words count once in its text and again in its headings: its own heading (what
the section is about) more than the headings above it, its doc's title and keywords.
"""

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from assistant.helpdocs.parsing import Block, Section
from assistant.helpdocs.text import terms

# Field weights: a word of the section's own heading counts this many times its text's.
OWN_HEADING_WEIGHT = 2.0
PATH_WEIGHT = 1.0  # the doc's title, its keywords and the headings above


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

    @property
    def text(self) -> str:
        return "\n".join(b.plain for b in self.blocks)


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float
    word_match: bool
    words: float = 0.0  # the BM25 of the words alone (no page, no meaning)
    matched: frozenset[str] = field(default_factory=frozenset)  # the question's terms it has


def passages_of(
    *,
    doc_id: int,
    url: str,
    language: str,
    prefixes: tuple[str, ...],
    sections: list[Section],
    keywords: str = "",
) -> list[tuple[Passage, Counter]]:
    """A doc's sections with text, each with its field-weighted term counts."""
    out = []
    keyword_terms = terms(keywords.replace(",", " "), language)
    for section in sections:
        if not section.blocks:
            continue  # a heading whose text is all in its subsections
        tf: Counter = Counter(terms(section.text, language))
        *path, own = section.headings
        for term in terms(own, language):
            tf[term] += OWN_HEADING_WEIGHT if path else PATH_WEIGHT
        for term in terms(" ".join(path), language) + keyword_terms:
            tf[term] += PATH_WEIGHT
        passage = Passage(
            doc_id=doc_id,
            title=section.title,
            anchor=section.anchor,
            url=f"{url}#{section.anchor}" if section.anchor else url,
            language=language,
            prefixes=prefixes,
            blocks=section.blocks,
        )
        out.append((passage, tf))
    return out


@dataclass(frozen=True, slots=True)
class Meaning:
    """How close each section is in meaning to a question: the sections by similarity, and
    how far the closest stands above the rest (standard deviations over all sections)."""

    order: list[int]
    similarity: np.ndarray
    lead: float
    mean: float  # the mean similarity over all sections
    spread: float  # its standard deviation


class SectionIndex:
    """BM25 over sections, with postings as arrays; the sections' vectors when there is a
    model."""

    K1, B = 1.2, 0.75
    KEEP_RATIO = 0.4  # weak matches only add noise to a small prompt
    LIMIT = 50  # the sections a question's ranking keeps (what coverage and prompts read)
    RRF_K = 10  # reciprocal rank fusion: 1 / (K + rank), for each ranking a section is in
    MEANING_DEPTH = 20  # the sections ranked by meaning that join the fusion
    # A section in another language than the question's counts this much: the question's
    # language orders the answers, it never hides a doc.
    OTHER_LANGUAGE = 0.7

    def __init__(self, entries: list[tuple[Passage, Counter]], vectors: np.ndarray | None = None):
        self.passages = [p for p, _ in entries]
        self.vectors = vectors
        self.position = {id(p): i for i, p in enumerate(self.passages)}
        self.doc_of_url = {p.url: p.doc_id for p in self.passages}
        n = len(entries)
        lengths = np.array([sum(tf.values()) for _, tf in entries], dtype=np.float32)
        avg = float(lengths.mean()) if n else 1.0
        self.norm = self.K1 * (1 - self.B + self.B * lengths / avg)
        # Postings: every (term, section, frequency), sorted by term once, then split.
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        section_ids: list[int] = []
        freqs: list[float] = []
        for i, (_, tf) in enumerate(entries):
            for term, f in tf.items():
                term_ids.append(vocabulary.setdefault(term, len(vocabulary)))
                section_ids.append(i)
                freqs.append(f)
        order = np.argsort(np.array(term_ids, dtype=np.int32), kind="stable")
        sections = np.array(section_ids, dtype=np.int32)[order]
        weights = np.array(freqs, dtype=np.float32)[order]
        counts = np.bincount(np.array(term_ids, dtype=np.int32), minlength=len(vocabulary))
        bounds = np.concatenate([[0], np.cumsum(counts)])
        self.postings = {
            t: (sections[bounds[k] : bounds[k + 1]], weights[bounds[k] : bounds[k + 1]])
            for t, k in vocabulary.items()
        }
        self.idf = {
            t: math.log(1 + (n - int(df) + 0.5) / (int(df) + 0.5))
            for t, df in zip(vocabulary, counts, strict=True)
        }
        # A word no section has is as telling as the rarest one (coverage weighs by it).
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        self.languages = np.array([p.language for p in self.passages])
        self.language_set = frozenset(self.languages.tolist())
        prefixes: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            for prefix in p.prefixes:
                prefixes.setdefault(prefix, []).append(i)
        self.by_prefix = {k: np.array(v, dtype=np.int32) for k, v in prefixes.items()}

    def with_vectors(self, vectors: np.ndarray) -> "SectionIndex":
        """The same index with other vectors (make bench: random ones at scale)."""
        other = object.__new__(SectionIndex)
        other.__dict__.update(self.__dict__)
        other.vectors = vectors
        return other

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def has(self, i: int, term: str) -> bool:
        posting = self.postings.get(term)
        if posting is None:
            return False
        j = int(np.searchsorted(posting[0], i))
        return j < len(posting[0]) and posting[0][j] == i

    def matched(self, i: int, query_terms: set[str] | frozenset[str]) -> frozenset[str]:
        """The terms among `query_terms` that section `i` holds (in any field)."""
        return frozenset(t for t in query_terms if self.has(i, t))

    def search(self, queries: dict[str, list[str]], path: str, language: str) -> list[Hit]:
        """Sections by BM25, each scored with the question stemmed in its own language
        (`queries`: language → the question's terms in it); `language`, the question's
        when its words tell, ranks that language's sections first ("": none)."""
        n = len(self.passages)
        words = np.zeros(n, dtype=np.float32)
        for lang, query_terms in queries.items():
            mine = self.languages == lang
            for term in set(query_terms):
                posting = self.postings.get(term)
                if posting is not None:
                    ids, tf = posting
                    keep = mine[ids]
                    ids, tf = ids[keep], tf[keep]
                    words[ids] += self.idf[term] * tf * (self.K1 + 1) / (tf + self.norm[ids])
        scores = words.copy()
        on_page = np.zeros(n, dtype=bool)
        for prefix, ids in self.by_prefix.items():
            if path.startswith(prefix):
                on_page[ids] = True
        # The page boosts what the question matched; alone it ranks low (vague questions).
        scores[on_page] = scores[on_page] * 1.5 + 0.5
        if language:
            scores[self.languages != language] *= self.OTHER_LANGUAGE
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return []
        # Best first, ties in the docs' own order (candidates are in it, the sort is stable).
        top = candidates[np.argsort(-scores[candidates], kind="stable")[: self.LIMIT]]
        keep = scores[top[0]] * self.KEEP_RATIO
        unique = {lang: set(t) for lang, t in queries.items()}
        return [
            Hit(self.passages[i], float(scores[i]), words[i] > 0, float(words[i]),
                self.matched(int(i), unique.get(self.passages[i].language, set())))  # fmt: skip
            for i in top
            if scores[i] >= keep
        ]

    def meaning(self, query_vector: np.ndarray) -> Meaning | None:
        if self.vectors is None or not len(self.passages):
            return None
        similarity = self.vectors @ query_vector
        depth = min(self.MEANING_DEPTH, len(similarity))
        best = np.argpartition(-similarity, depth - 1)[:depth]
        order = [int(i) for i in best[np.argsort(-similarity[best], kind="stable")]]
        mean, spread = float(similarity.mean()), float(similarity.std()) or 1.0
        return Meaning(order, similarity, (float(similarity[order[0]]) - mean) / spread, mean,
                       spread)  # fmt: skip

    def fuse(
        self, hits: list[Hit], meaning: Meaning, language: str, queries: dict[str, list[str]]
    ) -> list[Hit]:
        """The word ranking and the meaning ranking in one (reciprocal rank fusion); a
        section in another language than the question's counts less by meaning, as by
        words."""
        fused: dict[int, float] = {}
        by_words = {}
        for rank, hit in enumerate(hits):
            i = self.position[id(hit.passage)]
            fused[i] = 1 / (self.RRF_K + rank)
            by_words[i] = hit
        for rank, i in enumerate(meaning.order[: self.MEANING_DEPTH]):
            same = not language or self.passages[i].language == language
            weight = 1.0 if same else self.OTHER_LANGUAGE
            fused[i] = fused.get(i, 0.0) + weight / (self.RRF_K + rank)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        top = fused[ranked[0]]
        out = []
        for i in ranked:
            if fused[i] >= top * self.KEEP_RATIO:
                hit = by_words.get(i)
                words = hit.words if hit else 0.0
                if hit:
                    matched = hit.matched
                else:
                    matched = self.matched(i, set(queries.get(self.passages[i].language, ())))
                out.append(Hit(self.passages[i], fused[i], words > 0, words, matched))
        return out
