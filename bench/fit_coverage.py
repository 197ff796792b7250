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

from bench import corpora


def candidate_rows(questions: list, centre: str) -> list[dict]:
    from assistant.helpdocs.selectors import helpdoc_candidates

    rows = []
    for n, q in enumerate(questions):
        _, candidates, _ = helpdoc_candidates(query=q.q, path=q.path, audience="public")
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
                    "p": c.confidence,
                    "name": name,
                }
            )
        if not candidates:
            rows.append({"centre": centre, "question": n, "held_out": q.held_out,
                         "off_topic": q.off_topic, "rank": -1, "label": 0, "x": None,
                         "p": 0.0, "name": ""})  # fmt: skip
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


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 4000) -> np.ndarray:
    """Logistic regression by gradient descent: weights, then the bias last."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    pos = max(y.mean(), 1e-3)
    # Each class weighs the same in the loss: far more candidates are wrong than right.
    sample = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (sample * (p - y)) / len(y) + l2 * np.r_[w[:-1], 0]
        w -= 0.5 * grad
    return w


def decisions(rows: list[dict], covered_at: float, maybe_at: float) -> list[dict]:
    """Per question: the best candidate (highest probability), whether it is right, and the
    decision."""
    by_question: dict[int, list[dict]] = {}
    for row in rows:
        by_question.setdefault(row["question"], []).append(row)
    out = []
    for cands in by_question.values():
        best = max(cands, key=lambda r: (r["p"], -r["rank"]))
        p = best["p"]
        decision = "covered" if p >= covered_at else "maybe" if p >= maybe_at else "none"
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


def thresholds(decided_rows: list[dict]) -> tuple[float, float]:
    """MAYBE_AT: below it 92 % of the dev off-topic questions' best candidates; COVERED_AT:
    above 98 % of them and of the wrong best candidates of answerable ones."""
    best = decisions(decided_rows, 2.0, 2.0)
    off = np.array([d["p"] for d in best if d["off_topic"]])
    wrong = np.array([d["p"] for d in best if not d["off_topic"] and not d["label"]])
    maybe_at = float(np.quantile(off, 0.92)) + 1e-3 if len(off) else 0.25
    pool = np.concatenate([off, wrong]) if len(wrong) else off
    covered_at = max(maybe_at, float(np.quantile(pool, 0.9)) + 1e-3) if len(pool) else 0.5
    return covered_at, maybe_at


def main() -> None:
    corpora.setup_django()
    from assistant.helpdocs import coverage

    report_only = "--report" in sys.argv
    data = all_rows(meaning="--words" not in sys.argv)
    if not report_only:
        train = [
            r
            for name, (_, rows) in data.items()
            if name != "obsidian"
            for r in rows
            if not r["held_out"] and r["x"] is not None
        ]
        x = np.array([r["x"] for r in train])
        y = np.array([r["label"] for r in train], dtype=float)
        w = fit(x, y)
        for rows in (rows for _, rows in data.values()):
            for r in rows:
                if r["x"] is not None:
                    r["p"] = float(1 / (1 + np.exp(-(np.dot(w[:-1], r["x"]) + w[-1]))))
        dev = [r for name, (_, rows) in data.items() if name != "obsidian" for r in rows
               if not r["held_out"]]  # fmt: skip
        covered_at, maybe_at = thresholds(dev)
        print("WEIGHTS =", tuple(round(float(v), 3) for v in w[:-1]))
        print("BIAS =", round(float(w[-1]), 3))
        print(f"COVERED_AT = {covered_at:.3f}\nMAYBE_AT = {maybe_at:.3f}")
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
