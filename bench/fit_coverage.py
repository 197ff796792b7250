"""Fit the coverage model (assistant/helpdocs/coverage.py) and report what it decides.

    python -m bench.fit_coverage          fit on the dev halves, print the weights to paste
    python -m bench.fit_coverage --report the decisions with the weights in the code

Rows: each of a question's candidate sections (the fused ranking's first few) with its
evidence, labelled 1 when it is a section that answers the question. Fitted on the dev
halves of Mastodon's and Poetry's questions and the demo's set (a logistic regression, L2,
by gradient descent); validated on the held-out halves and on Obsidian's help, kept out of
all fitting.
"""

import sys

import numpy as np

from assistant.helpdocs.coverage import FEATURES
from bench import corpora

DECIDE_FEATURES = ("share", "count_share", "heading", "meaning", "meaning_lead")


def candidate_rows(questions: list, centre: str) -> list[dict]:
    from assistant.helpdocs.selectors import helpdoc_candidates

    rows = []
    for n, q in enumerate(questions):
        _, candidates, _, meaning = helpdoc_candidates(query=q.q, path=q.path, audience="public")
        for rank, c in enumerate(candidates):
            name = corpora.section_name(c.hit.passage.url)
            rows.append(
                {
                    "centre": centre,
                    "question": n,
                    "held_out": q.held_out,
                    "off_topic": q.off_topic,
                    "rank": rank,
                    "label": int(corpora.wanted(name, q.want)),
                    "x": c.evidence.vector(),
                    "p": c.score,
                    "conf": c.confidence,
                    "name": name,
                    "meaning": meaning,  # False: sure by words, the words' model decides
                }
            )
        if not candidates:
            rows.append({"centre": centre, "question": n, "held_out": q.held_out,
                         "off_topic": q.off_topic, "rank": -1, "label": 0, "x": None,
                         "p": 0.0, "conf": 0.0, "name": "", "meaning": False})  # fmt: skip
    return rows


def all_rows(meaning: bool = True) -> dict[str, tuple[list, list]]:
    from django.conf import settings

    settings.HELP_EMBEDDINGS = "local" if meaning else "off"
    out = {}
    skip = {a.removeprefix("--skip=") for a in sys.argv if a.startswith("--skip=")}
    for centre in corpora.CENTRES:
        if centre.name in skip:
            continue
        if not centre.path.is_dir():
            print(f"{centre.name}: {centre.path} missing, skipped", file=sys.stderr)
            continue
        questions, report = corpora.load_centre(centre)
        print(f"{centre.name}: {report}", file=sys.stderr)
        out[centre.name] = (questions, candidate_rows(questions, centre.name))
    questions = corpora.demo_questions()
    out["demo"] = (questions, candidate_rows(questions, "demo"))
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.001, steps: int = 20000) -> np.ndarray:
    """Logistic regression by gradient descent on standardised features (a cosine varies
    over 0.1 where a share varies over 1), returned on the raw scale: weights, then bias."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    xb = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    pos = max(y.mean(), 1e-3)
    # Each class weighs the same in the loss: far more candidates are wrong than right.
    sample = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (sample * (p - y)) / len(y) + l2 * np.r_[w[:-1], 0]
        w -= 0.5 * grad
    raw = w[:-1] / std
    return np.r_[raw, w[-1] - float(np.dot(raw, mean))]


def best_rows(rows: list[dict]) -> list[dict]:
    """Each question's chosen candidate: the highest rank score, as retrieval chooses."""
    by_question: dict[int, list[dict]] = {}
    for row in rows:
        by_question.setdefault(row["question"], []).append(row)
    return [max(cands, key=lambda r: (r["p"], -r["rank"])) for cands in by_question.values()]


def decisions(rows: list[dict], covered_at: float, maybe_at: float) -> list[dict]:
    """Per question: the chosen candidate, whether it is right, and the decision (a question
    sure by words decided by the words' model, as at run time)."""
    from assistant.helpdocs import coverage

    out = []
    for best in best_rows(rows):
        if best["meaning"]:
            p = best["conf"]
            decision = "covered" if p >= covered_at else "maybe" if p >= maybe_at else "none"
        else:
            decision = coverage.decide(best["conf"], meaning=False)
        out.append({**best, "decision": decision})
    return out


def summary(decided: list[dict]) -> dict:
    answerable = [d for d in decided if not d["off_topic"]]
    off = [d for d in decided if d["off_topic"]]
    right = sum(d["label"] for d in answerable)
    answered = sum(
        d["decision"] == "covered" or (d["decision"] == "maybe" and d["label"]) for d in answerable
    )
    covered_right = sum(d["decision"] == "covered" and d["label"] for d in answerable)
    return {
        "right_first": (right, len(answerable)),
        "answered": (answered, len(answerable)),
        "covered": (covered_right, len(answerable)),
        "off_none": (sum(d["decision"] == "none" for d in off), len(off)),
    }


def thresholds(best: list[dict]) -> tuple[float, float]:
    """MAYBE_AT: above 92 % of the dev off-topic questions' chosen candidates; COVERED_AT:
    above 90 % of them and of the wrong chosen candidates of answerable ones."""
    off = np.array([d["conf"] for d in best if d["off_topic"]])
    wrong = np.array([d["conf"] for d in best if not d["off_topic"] and not d["label"]])
    maybe_at = float(np.quantile(off, 0.92)) + 1e-3 if len(off) else 0.25
    pool = np.concatenate([off, wrong]) if len(wrong) else off
    covered_at = max(maybe_at, float(np.quantile(pool, 0.9)) + 1e-3) if len(pool) else 0.5
    return covered_at, maybe_at


def _probability(w: np.ndarray, x: list[float]) -> float:
    return float(1 / (1 + np.exp(-(np.dot(w[:-1], x) + w[-1]))))


def main() -> None:
    corpora.setup_django()
    from assistant.helpdocs import coverage

    report_only = "--report" in sys.argv
    data = all_rows(meaning="--words" not in sys.argv)
    if not report_only:
        words = "--words" in sys.argv
        fitted = [
            r
            for name, (_, rows) in data.items()
            for r in rows
            if r["x"] is not None and (words or r["meaning"])
        ]
        dev = [r for r in fitted if r["centre"] != "obsidian" and not r["held_out"]]
        # The ranker: every dev candidate, right or not.
        rank = fit(np.array([r["x"] for r in dev]), np.array([r["label"] for r in dev], float))
        for r in fitted:
            r["p"] = _probability(rank, r["x"])
            r["meaning"] = True  # decided by the thresholds fitted here
        # The decider: each dev question's chosen candidate, answered right or off-topic.
        # Over its absolute signals only: how far a section stands above the others says
        # which one answers, not whether any does.
        chosen = [b for b in best_rows(dev) if b["off_topic"] or b["label"]]
        keep = [FEATURES.index(f) for f in DECIDE_FEATURES]
        fitted_w = fit(np.array([[b["x"][i] for i in keep] for b in chosen]),
                       np.array([b["label"] for b in chosen], float), l2=0.01)  # fmt: skip
        decide = np.zeros(len(FEATURES) + 1)
        decide[keep] = fitted_w[:-1]
        decide[-1] = fitted_w[-1]
        for r in fitted:
            r["conf"] = _probability(decide, r["x"])
        covered_at, maybe_at = thresholds(best_rows(dev))
        prefix = "WORDS_" if words else ""
        for name, w in (("RANK", rank), ("DECIDE", decide)):
            weights = tuple(round(float(v), 3) for v in w[:-1])
            print(f"{prefix}{name} = Model({weights}, {round(float(w[-1]), 3)})")
        print(f"{prefix}COVERED_AT, {prefix}MAYBE_AT = {covered_at:.3f}, {maybe_at:.3f}")
    else:
        covered_at, maybe_at = coverage.COVERED_AT, coverage.MAYBE_AT
    print("\n| centre | half | right section first | answered (covered, or maybe and right) "
          "| covered and right | off-topic → none |\n|---|---|---|---|---|---|")
    for name, (_, rows) in data.items():
        for half, keep in (("dev", False), ("held-out", True)):
            part = [r for r in rows if r["held_out"] == keep]
            if not part:
                continue
            s = summary(decisions(part, covered_at, maybe_at))
            cells = " | ".join(f"{a}/{b}" for a, b in s.values())
            print(f"| {name} | {half} | {cells} |")


if __name__ == "__main__":
    main()
