"""Retrieval's decisions on every labelled question, through `helpdoc_retrieve` alone (what
any version of the code has), so that a checkout of an earlier commit is measured the same
way: `cd <worktree> && python -m bench.compare_retrieval` (this file and bench/corpora.py
copied in).

Per centre and half: the first section right; covered and right; covered and wrong (a sure
answer from the wrong section: the reader is misled); answered (covered and right, or maybe
and right); off-topic questions answered none.
"""

import sys

from bench import corpora


def measure(questions: list) -> dict[str, list[int]]:
    from assistant.helpdocs.selectors import helpdoc_retrieve

    out = {k: [0, 0] for k in ("first", "covered_right", "covered_wrong", "answered", "off")}
    for q in questions:
        found = helpdoc_retrieve(query=q.q, path=q.path, audience="public")
        coverage = getattr(found, "coverage", None) or ("covered" if found.covered else "none")
        first = corpora.section_name(found.hits[0].passage.url) if found.hits else ""
        if q.off_topic:
            out["off"][0] += coverage == "none"
            out["off"][1] += 1
            continue
        right = bool(first) and corpora.wanted(first, q.want)
        for key, hit in (
            ("first", right),
            ("covered_right", coverage == "covered" and right),
            ("covered_wrong", coverage == "covered" and not right),
            ("answered", coverage in ("covered", "maybe") and right),
        ):
            out[key][0] += hit
            out[key][1] += 1
    return out


def main() -> None:
    corpora.setup_django()
    print(
        "| centre | half | right section first | covered and right | covered, wrong section "
        "| answered (covered or maybe, right) | off-topic → none |\n|---|---|---|---|---|---|---|"
    )
    sets = [(c.name, lambda c=c: corpora.load_centre(c)[0]) for c in corpora.CENTRES
            if c.path.is_dir()]  # fmt: skip
    for name, load in [*sets, ("demo", corpora.demo_questions)]:
        questions = load()
        for half, keep in (("dev", False), ("held-out", True)):
            part = [q for q in questions if q.held_out == keep]
            if part:
                cells = " | ".join(f"{a}/{b}" for a, b in measure(part).values())
                print(f"| {name} | {half} | {cells} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
