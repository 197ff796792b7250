"""`make eval`, coverage and ranking on three real help centres and the demo docs
(bench/corpora.py), through the JSON endpoint with the docs answer: per centre and half,
the right section first, the answer holding the passage that answers, answerable questions
answered (`covered`, or `maybe` with the right section), `covered` alone, off-topic
questions answered `none`, and anything invented reaching the reader.

    python -m bench.eval_centres      this section alone (make eval runs it too)
"""

import time

from bench import corpora


def _plain(text: str) -> str:
    import re

    return re.sub(r"[*\"“”'’`]", "", text or "").lower()


def ask_all(questions: list, invented) -> list[dict]:
    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    client = Client()
    rows = []
    for q in questions:
        started = time.perf_counter()
        r = client.post(
            "/assistant/api/help/",
            {"question": q.q, "path": q.path, "hints": ""},
            content_type="application/json",
        )
        body = r.json()
        assert r.status_code == 200, (q.q, body)
        coverage = body.get("coverage", "covered" if body["covered"] else "none")
        first = corpora.section_name(body["sources"][0]["url"]) if body["sources"] else ""
        right = bool(first) and coverage != "none" and corpora.wanted(first, q.want)
        rows.append(
            {
                "q": q.q,
                "held_out": q.held_out,
                "off_topic": q.off_topic,
                "want": sorted(q.want),
                "first": first,
                "coverage": coverage,
                "right": right,
                "held": right and bool(q.passage) and _plain(q.passage) in _plain(body["answer"]),
                "invented": sum(invented(body["answer"]).values()),
                "ms": (time.perf_counter() - started) * 1000,
            }
        )
    return rows


def figures(rows: list[dict]) -> dict[str, tuple[int, int]]:
    answerable = [r for r in rows if not r["off_topic"]]
    off = [r for r in rows if r["off_topic"]]
    answered = [r for r in answerable if r["coverage"] == "covered" or
                (r["coverage"] == "maybe" and r["right"])]  # fmt: skip
    return {
        "right": (sum(r["right"] for r in answerable), len(answerable)),
        "held": (sum(r["held"] for r in answerable), len(answerable)),
        "answered": (len(answered), len(answerable)),
        "covered": (sum(r["coverage"] == "covered" and r["right"] for r in answerable),
                    len(answerable)),  # fmt: skip
        "off_none": (sum(r["coverage"] == "none" for r in off), len(off)),
        "invented": (sum(r["invented"] for r in rows), len(rows)),
    }


def section() -> tuple[str, int]:
    """The markdown section for eval_results.md, and how many invented things got through."""
    from assistant.models import HelpDoc
    from bench.eval import Corpus, invented

    head = (
        "\n## Coverage on three real help centres and the demo docs\n\n"
        "Docs answer, words and meaning. Held-out: the half of each centre's questions no "
        "tuning saw (Obsidian's whole set: kept out of all tuning; the demo's: the blind "
        "paraphrases and language questions). Answered: `covered`, or `maybe` with the right "
        "section first.\n\n| centre | half | right section first | answer holds its passage | "
        "answered | covered and right | off-topic → none | invented |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines, misses, leaked = [], [], 0
    loaders = [(c.name, lambda c=c: corpora.load_centre(c)[0]) for c in corpora.CENTRES
               if c.path.is_dir()]  # fmt: skip
    lines += [f"| {c.name} | skipped: {c.path} is not there | | | | | | |"
              for c in corpora.CENTRES if not c.path.is_dir()]  # fmt: skip
    for name, load in [*loaders, ("demo", corpora.demo_questions)]:
        questions = load()
        corpus = Corpus([f"{d.title}\n{d.body}" for d in HelpDoc.objects.all()])
        rows = ask_all(questions, lambda answer, corpus=corpus: invented(answer, corpus))
        for half, keep in (("dev", False), ("held-out", True)):
            part = [r for r in rows if r["held_out"] == keep]
            if not part:
                continue
            f = figures(part)
            leaked += f["invented"][0]
            cells = " | ".join(f"{a}/{b}" for a, b in list(f.values())[:5])
            lines.append(f"| {name} | {half} | {cells} | {f['invented'][0]} |")
        for r in rows:
            if r["held_out"] and not r["off_topic"] and not r["right"]:
                wanted = " or ".join(r["want"][:2])
                misses.append(f"- {name} · {r['q']!r} → {r['first'] or 'none'} "
                              f"({r['coverage']}; wanted {wanted})")  # fmt: skip
            elif r["held_out"] and r["off_topic"] and r["coverage"] != "none":
                misses.append(f"- {name} · off-topic {r['q']!r} → {r['coverage']} {r['first']}")
    text = head + "\n".join(lines) + "\n\n### Held-out misses\n\n" + "\n".join(misses) + "\n"
    return text, leaked


if __name__ == "__main__":
    corpora.setup_django()
    text, leaked = section()
    print(text)
    raise SystemExit(1 if leaked else 0)
