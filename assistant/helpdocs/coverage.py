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

# Fitted by bench/fit_coverage.py (its output pasted here): the weight of each feature, in
# FEATURES' order, and the bias.
WEIGHTS = (0.626, 0.711, 0.738, 1.17, 0.145, 0.156, 0.654, 1.172, 1.198)
BIAS = -2.958
# The probabilities at and above which a candidate covers the question, or may.
COVERED_AT = 0.824
MAYBE_AT = 0.729
# Without the meaning model the words decide alone (fitted the same way, meaning features 0).
WORDS_WEIGHTS = (3.0, 1.5, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0)
WORDS_BIAS = -3.2


def confidence(evidence: Evidence, *, meaning: bool = True) -> float:
    """The probability that the candidate section answers the question."""
    weights, bias = (WEIGHTS, BIAS) if meaning else (WORDS_WEIGHTS, WORDS_BIAS)
    z = bias + sum(w * x for w, x in zip(weights, evidence.vector(), strict=True))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def decide(p: float) -> str:
    return COVERED if p >= COVERED_AT else MAYBE if p >= MAYBE_AT else NONE
