"""Whether the docs answer a question, decided on evidence: every signal retrieval has about a
candidate section, combined by one logistic model into the probability that the section
answers the question.

The signals say nothing of a site's vocabulary (shares, ranks, similarities), so one model
serves any help centre. Its weights were fitted by `python -m bench.fit_coverage` on the dev
halves of labelled questions from several help centres and validated on a help centre it
was not fitted on (docs/answer-quality.md has the figures).
"""

import math
from dataclasses import dataclass

COVERED, MAYBE, NONE = "covered", "maybe", "none"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What retrieval knows about one candidate section for one question."""

    share: float  # the weighted share of the question's topic terms the section holds
    count_share: float  # the same, each term counting one
    heading: float  # the weighted share of the topic in the section's heading path
    words: float  # its word score over the best word score of the question (0 to 1)
    meaning: float  # its cosine similarity to the question (0 without the model)
    meaning_gap: float  # how far it stands below the closest section in meaning (<= 0)
    meaning_lead: float  # how far it stands above the mean similarity, in std units
    agree: float  # 1 when it is both the first by words and the closest in meaning
    rank: float  # 1 / (1 + its place in the fused ranking)

    def vector(self) -> list[float]:
        return [
            self.share,
            self.count_share,
            self.heading,
            self.words,
            self.meaning,
            self.meaning_gap,
            self.meaning_lead / 10,
            self.agree,
            self.rank,
        ]


FEATURES = (
    "share", "count_share", "heading", "words", "meaning", "meaning_gap", "meaning_lead",
    "agree", "rank",
)  # fmt: skip


@dataclass(frozen=True)
class Model:
    """A logistic model over Evidence.vector(): its weights in FEATURES' order and bias."""

    weights: tuple[float, ...]
    bias: float

    def probability(self, evidence: Evidence) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, evidence.vector(), strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


# Fitted by bench/fit_coverage.py (its output pasted here), two models each with the meaning
# model and without it (HELP_EMBEDDINGS off, or a question its first section holds word for
# word, which skips meaning: `--words`):
# - RANK: which of a question's candidates answers it (over every candidate: relative signals
#   weigh most);
# - DECIDE: whether the chosen candidate answers at all (over each question's chosen one:
#   off-topic questions against answered ones), with the probabilities at and above which it
#   covers the question, or may.
RANK = Model((2.272, 0.515, 2.296, 1.282, -2.703, 22.374, 2.662, 0.493, 0.688), -0.664)
DECIDE = Model((2.842, 6.586, 7.209, 0.0, 13.119, 0.0, 9.507, 0.0, 0.0), -19.143)
COVERED_AT, MAYBE_AT = 0.927, 0.422
WORDS_RANK = Model((-4.33, 7.915, 1.918, 6.006, 0.0, 0.0, 0.0, 0.0, 2.453), -10.18)
WORDS_DECIDE = Model((4.583, 3.79, 3.894, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), -5.473)
WORDS_COVERED_AT, WORDS_MAYBE_AT = 0.700, 0.333


def rank_score(evidence: Evidence, *, meaning: bool = True) -> float:
    """How likely this candidate, of the question's, is the section that answers it."""
    return (RANK if meaning else WORDS_RANK).probability(evidence)


def confidence(evidence: Evidence, *, meaning: bool = True) -> float:
    """The probability that the docs answer the question with this (chosen) section."""
    return (DECIDE if meaning else WORDS_DECIDE).probability(evidence)


def decide(p: float, *, meaning: bool = True) -> str:
    covered_at, maybe_at = (COVERED_AT, MAYBE_AT) if meaning else (WORDS_COVERED_AT, WORDS_MAYBE_AT)
    return COVERED if p >= covered_at else MAYBE if p >= maybe_at else NONE
