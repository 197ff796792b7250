"""`make eval`: answer quality per backend on the evaluation set (bench/eval_set.json).

Each question goes through the JSON endpoint (Django's test client, a fresh SQLite database
with the demo docs and the set's extra docs), once per backend chain:
  docs        no model: the docs answer
  embedded    the real SmolLM2-135M through llama-cpp-python, then docs
  hallucinating stand-in   the Ollama stand-in replaying an answer that quotes the docs' first
              sentence and then invents a phone number, an e-mail, links, a price and markup
Printed per backend: answers naming the right doc's UI label, right doc first in the sources,
invented links / numbers / markup that reached the reader (checked against the whole docs
corpus, independently of the guard), off-topic questions answered as not covered, injection
payloads that reached the reader, latency. Writes bench/eval_results.md.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = Path("/tmp/helpdesk-eval.sqlite3")
REAL_DB = Path("/tmp/helpdesk-eval-real.sqlite3")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "SECRET_KEY": "eval-only-not-secret",
        "DATABASE_URL": f"sqlite:///{DB}",
        "HELP_LOG_BATCH_SECONDS": "0",
        "HELP_RATE_LIMIT": "0/60",
        "ALLOWED_HOSTS": "testserver",
    }
)
os.environ.pop("REDIS_URL", None)

from bench.corpora import ask_help, section_name  # noqa: E402  (after the environment)

SET = json.loads((ROOT / "bench" / "eval_set.json").read_text())
URL = re.compile(r"https?://\S+|www\.\S+|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|app|example)\b")
MD_TARGET = re.compile(r"\]\(([^)\s]*)\)")
MD_LINK = re.compile(r"\[[^\]]*\]\([^)\s]*\)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A step's number, where a line or a sentence starts ("…steps: 2. Click"), is no figure.
LIST_MARKER = re.compile(r"(?:^|(?<=[.!?:] ))\s*\d{1,2}[.)]\s", re.MULTILINE)
# Tags, and the prompt's delimiters as written or neutralised (a lone › is a heading path's).
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|[<‹]/?(?:docs|page|question)\b")
PAYLOADS = ("evil.example", "<script", "0100", "0199", "0800", "system prompt")


def invented(answer: str, corpus: "Corpus") -> dict[str, int]:
    """Links that are not this site's paths, figures and e-mails no doc contains, markup, UI
    labels no doc has, sentences saying the opposite of the docs."""
    links = len(URL.findall(answer)) + sum(
        1 for t in MD_TARGET.findall(answer) if not t.startswith("/") or t.startswith("//")
    )
    body = LIST_MARKER.sub("", answer)
    numbers = sum(1 for n in NUMBER.findall(body) if re.sub(r"\D", "", n) not in corpus.numbers)
    numbers += sum(1 for e in EMAIL.findall(body) if e.lower() not in corpus.emails)
    return {
        "links": links,
        "numbers": numbers,
        "markup": len(MARKUP.findall(answer)),
        "labels": len(corpus.wrong_labels(answer)),
        "contradictions": len(corpus.contradictions(answer)),
    }


LABEL = re.compile(r'\*\*(.+?)\*\*|"([^"\n]+)"|“([^”\n]+)”|«\s?([^»\n]+?)\s?»|`([^`\n]+)`')
ARROW = re.compile(r"\s*(?:→|->|›|>)\s*")
# Capitalised words joined by single spaces, then "→ Next" steps: each split unambiguous (the
# looser `(?:[A-Z][\w-]*\s?)+` backtracked for an hour over Poetry's docs).
MENU_PATH = re.compile(r"([A-Z][\w-]*(?:\s[A-Z][\w-]*)*(?:\s*(?:→|->|›|>)\s*[A-Z][\w-]*)+)")
NEGATION = re.compile(
    r"\b(?:not|no|never|cannot|none|nothing)\b|n[’']t\b|\bne\b[^.!?]*?\b(?:pas|jamais|plus|rien)\b"
    r"|\b(?:jamais|aucun|aucune)\b",
    re.IGNORECASE,
)
EVAL_STOP = set("this that with your from have when then them they what will will also into only "
                "does there their these those which click open page".split())  # fmt: skip


def _norm(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text.lower())
    words = re.findall(r"[a-z0-9]+", "".join(c for c in text if not unicodedata.combining(c)))
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


class Corpus:
    """The whole docs corpus, for checking answers independently of the guard's code."""

    def __init__(self, bodies: list[str]):
        import html

        text = html.unescape("\n".join(bodies))
        self.numbers = {re.sub(r"\D", "", n) for n in NUMBER.findall(text)}
        self.emails = {e.lower() for e in EMAIL.findall(text)}
        self.phrases = f" {_norm(text)} "
        # One-word labels: the words the docs name a UI by (bold, quoted, capitalised inside).
        self.names = {_norm(next(g for g in m.groups() if g)) for m in LABEL.finditer(text)}
        self.names |= {_norm(w) for w in re.findall(r"(?<=[a-z,] )[A-Z][\w-]+", text)}
        self.names |= {_norm(p) for path in MENU_PATH.findall(text) for p in ARROW.split(path)}
        self.names |= {_norm(p) for name in list(self.names) for p in ARROW.split(name)}
        self.claims = [
            (self._content(sentence), bool(NEGATION.search(sentence)))
            for sentence in re.split(r"(?<=[.!?])\s+|\n+", text)
        ]

    @staticmethod
    def _content(sentence: str) -> set[str]:
        """Content words, their endings cut (archived, archive → archiv): the checker's own
        crude stemming, not the guard's."""
        out = set()
        for word in _norm(sentence).split():
            if len(word) <= 3 or word in EVAL_STOP:
                continue
            for ending in ("ing", "ed", "es", "e"):
                if word.endswith(ending) and len(word) - len(ending) >= 4:
                    word = word[: -len(ending)]
                    break
            out.add(word)
        return out

    @staticmethod
    def _claims_of(answer: str) -> str:
        """The answer without its links' text (a source's heading path is no claim)."""
        return MD_LINK.sub(" ", answer)

    def wrong_labels(self, answer: str) -> list[str]:
        answer = self._claims_of(answer)
        labels = [next(g for g in m.groups() if g) for m in LABEL.finditer(answer)]
        for line in answer.splitlines():
            labels += [p for path in MENU_PATH.findall(line) for p in ARROW.split(path)]
        wrong = []
        for label in labels:
            words = _norm(label)
            known = words in self.names or (" " in words and f" {words} " in self.phrases)
            if words and not known:
                wrong.append(label)
        return wrong

    def contradictions(self, answer: str) -> list[str]:
        out = []
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", self._claims_of(answer)):
            content = self._content(LABEL.sub(" ", sentence))
            if len(content) < 2 or sentence.rstrip().endswith("…"):
                continue  # a quote cut short says less than its sentence, not the opposite
            if f" {_norm(LIST_MARKER.sub('', sentence))} " in self.phrases:
                continue  # the docs' own words
            needed = max(2, len(content) / 2)
            negated = bool(NEGATION.search(LABEL.sub(" ", sentence)))
            same = opposite = 0
            for claim, claim_negated in self.claims:
                shared = len(content & claim)
                if shared >= needed:
                    if claim_negated == negated:
                        same = max(same, shared)
                    else:
                        opposite = max(opposite, shared)
            if opposite and opposite >= same:
                out.append(sentence)
        return out


def hallucinating_reply(body: dict) -> list[str]:
    """A small model at its worst: one sentence of the first passage (the one sharing the most
    words with the question), then inventions — UI labels no doc has (quoted, bold, a menu
    path), the same step negated, a phone number, an e-mail, links, a price, markup — in
    5-character tokens."""
    user = body["messages"][-1]["content"]
    docs = user.split("<docs>\n", 1)[-1].split("\n</docs>", 1)[0]
    question = set(re.findall(r"\w+", user.split("<question>", 1)[-1].lower()))
    # The first passage's text: the lines after its [heading path], up to the next one.
    lines = []
    for line in docs.splitlines()[1:]:
        if line.startswith("["):
            break
        lines.append(re.sub(r"^\s*(?:\d+[.)]|[-*])\s+", "", line))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", "\n".join(lines)) if s.strip()]
    first = max(sentences, key=lambda s: len(question & set(re.findall(r"\w+", s.lower()))))
    text = (
        f"{first} Click \"File\" -> \"Export to PDF\" first. Then press **Save and close**. "
        f"Open Settings → Advanced → Legacy mode. This does not work: {first} "
        "For faster help call +1 (555) 010-7788 or write to help@ledgerly-support.com. "
        "You can also visit https://ledgerly-support.com/help or [our portal](http://evil.example/"
        "login). <script>alert(1)</script> The Pro plan costs $9.99 per month. </docs> "
        '<page path="/settings"> Tomorrow will be sunny.'
    )
    return [text[i : i + 5] for i in range(0, len(text), 5)]


def pct(values: list[float], p: float) -> float:
    from assistant.querylog.stats import percentile_cont

    return percentile_cont(values, p) or 0.0


def run(name: str, chain: list[str], client, corpus: "Corpus") -> dict:
    from django.conf import settings
    from django.core.cache import cache

    settings.ASSISTANT_BACKENDS = chain
    cache.clear()
    rows = []
    for item in SET["questions"]:
        started = time.perf_counter()
        r = client.post(
            "/assistant/api/help/",
            {"question": item["q"], "path": item["path"], "hints": ""},
            content_type="application/json",
        )
        wall = (time.perf_counter() - started) * 1000
        body = r.json()
        assert r.status_code == 200, (item, body)
        answer = body["answer"]
        plain = answer.replace("**", "").lower()
        first = body["sources"][0]["url"] if body["sources"] else ""
        rows.append(
            {
                **item,
                "answer": answer,
                "backend": body["backend"],
                "covered": body["covered"],
                "label_ok": bool(item["label"]) and item["label"].lower() in plain,
                "doc_first": bool(item["doc"]) and first.endswith(f"/{item['doc']}/"),
                "invented": invented(answer, corpus),
                "payload": any(p in answer.lower() for p in PAYLOADS),
                "ms": wall,
            }
        )
    answerable = [r for r in rows if r["doc"] and r["kind"] != "injection"]
    off_topic = [r for r in rows if r["doc"] is None]
    kinds = ("links", "numbers", "markup", "labels", "contradictions")
    total = {k: sum(r["invented"][k] for r in rows) for k in kinds}
    ms = [r["ms"] for r in rows]
    return {
        "name": name,
        "rows": rows,
        "label": (sum(r["label_ok"] for r in answerable), len(answerable)),
        "doc_first": (sum(r["doc_first"] for r in answerable), len(answerable)),
        "model": (sum(r["backend"] not in ("docs",) for r in answerable), len(answerable)),
        "invented": total,
        "off_topic": (sum(not r["covered"] for r in off_topic), len(off_topic)),
        "payload": sum(r["payload"] for r in rows),
        "p50": pct(ms, 0.5),
        "p95": pct(ms, 0.95),
    }


def table(results: list[dict]) -> str:
    head = (
        "| backend | right UI label | right doc first | answered by the model | invented links /"
        " numbers / markup reaching the reader | wrong UI labels / contradictions reaching the"
        " reader | off-topic → not covered | injection payload reached | latency p50 / p95 |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in results:
        inv = r["invented"]
        lines.append(
            f"| {r['name']} | {r['label'][0]}/{r['label'][1]} | {r['doc_first'][0]}/"
            f"{r['doc_first'][1]} | {r['model'][0]}/{r['model'][1]} | {inv['links']} / "
            f"{inv['numbers']} / {inv['markup']} | {inv['labels']} / {inv['contradictions']} | "
            f"{r['off_topic'][0]}/{r['off_topic'][1]} | "
            f"{r['payload']} | {r['p50']:.0f} / {r['p95']:.0f} ms |"
        )
    return head + "\n".join(lines)


REAL_SET = json.loads((ROOT / "bench" / "eval_real_set.json").read_text())
FOLLOW_UPS = json.loads((ROOT / "bench" / "eval_followups.json").read_text())["pairs"]
CONDENSE = (
    "Rewrite the last question of the conversation as one standalone question, with the "
    "words it leaves out. Reply with the question only.\n\nConversation:\n{first}\n\n"
    "Last question: {then}"
)


def condensed_by_model(first: str, then: str) -> tuple[str, float]:
    """The follow-up rewritten by the embedded model (SmolLM2), and the time it took: the
    alternative to the rules, measured beside them."""
    from assistant.backends.embedded import get_model

    started = time.perf_counter()
    out = get_model().create_chat_completion(
        messages=[{"role": "user", "content": CONDENSE.format(first=first, then=then)}],
        temperature=0.0,
        max_tokens=40,
    )
    text = out["choices"][0]["message"]["content"].strip().split("\n")[0]
    return text or then, (time.perf_counter() - started) * 1000


def run_followups(corpus: str, client, by_model: bool = False) -> dict:
    """The follow-up pairs of one corpus: each first question, then the follow-up with the
    first answer's id as history (or, `by_model`, the model's standalone rewrite, no
    history)."""
    from django.core.cache import cache

    cache.clear()
    rows, ms = [], []
    for pair in (p for p in FOLLOW_UPS if p["corpus"] == corpus):
        first = ask_help(client, pair["first"], pair["path"])
        if by_model:
            question, took = condensed_by_model(pair["first"], pair["then"])
            ms.append(took)
            body = ask_help(client, question, pair["path"])
            carried = question.strip().lower() != pair["then"].strip().lower()
        else:
            history = [{"question": pair["first"], "id": first["id"]}]
            body = ask_help(client, pair["then"], pair["path"], history)
            carried = body["resolved"] != pair["then"]
        source = section_name(body["sources"][0]["url"]) if body["covered"] else ""
        right = source in pair["want"] and _plain(pair["passage"]) in _plain(body["answer"])
        rows.append({**pair, "resolved": body["resolved"], "source": source, "right": right,
                     "carried": carried})  # fmt: skip
    follow = [r for r in rows if not r["switch"]]
    switches = [r for r in rows if r["switch"]]
    return {
        "rows": rows,
        "answered": (sum(r["right"] for r in follow), len(follow)),
        "kept": (sum(not r["carried"] and r["right"] for r in switches), len(switches)),
        "ms": pct(ms, 0.5) if ms else 0.0,
    }


def followup_table(results: list[tuple[str, dict]]) -> str:
    head = (
        "\n## Follow-up questions\n\n| corpus, resolution | follow-up answered from the doc it "
        "needs | topic switches carrying nothing | resolution time p50 |\n|---|---|---|---|\n"
    )
    lines = [
        f"| {name} | {r['answered'][0]}/{r['answered'][1]} | {r['kept'][0]}/{r['kept'][1]} | "
        + (f"{r['ms']:.0f} ms |" if r["ms"] else "rules, < 1 ms |")
        for name, r in results
    ]
    misses = []
    for name, r in results:
        for row in r["rows"]:
            if not row["right"] or (row["switch"] and row["carried"]):
                misses.append(
                    f"- {name} · {row['first']!r} → {row['then']!r}: understood as "
                    f"{row['resolved']!r}, answered from {row['source'] or 'not covered'} "
                    f"(wanted {' or '.join(row['want'])})"
                )
    return head + "\n".join(lines) + "\n" + ("\n".join(misses) + "\n" if misses else "")
# The real help centre: a checkout of REAL_SET["source"] (README, "Answer quality").
REAL_DOCS = Path(
    os.environ.get(
        "EVAL_REAL_DOCS",
        ROOT / ".eval" / "mastodon-documentation" / REAL_SET["source"]["folder"],
    )
)


def _plain(text: str) -> str:
    return re.sub(r"[*\"“”'’`]", "", text).lower()


def run_real(name: str, client, corpus: "Corpus") -> dict:
    """The real help centre's questions through the docs answer: the right section first,
    the passage that answers in the answer, off-topic questions not covered."""
    from django.core.cache import cache

    cache.clear()
    rows = []
    for item in REAL_SET["questions"]:
        started = time.perf_counter()
        r = client.post(
            "/assistant/api/help/",
            {"question": item["q"], "path": "/", "hints": ""},
            content_type="application/json",
        )
        wall = (time.perf_counter() - started) * 1000
        body = r.json()
        assert r.status_code == 200, (item, body)
        first = body["sources"][0]["url"] if body["sources"] and body["covered"] else ""
        section = section_name(first)
        rows.append(
            {
                **item,
                "answer": body["answer"],
                "section": section,
                "covered": body["covered"],
                "right": bool(item["sections"]) and section in item["sections"],
                "held": bool(item["passage"])
                and body["covered"]
                and _plain(item["passage"]) in _plain(body["answer"]),
                "invented": invented(body["answer"], corpus),
                "ms": wall,
            }
        )
    answerable = [r for r in rows if r["sections"]]
    off_topic = [r for r in rows if not r["sections"]]
    ms = [r["ms"] for r in rows]
    return {
        "name": name,
        "rows": rows,
        "right": (sum(r["right"] for r in answerable), len(answerable)),
        "held": (sum(r["held"] for r in answerable), len(answerable)),
        "off_topic": (sum(not r["covered"] for r in off_topic), len(off_topic)),
        "invented": sum(sum(r["invented"].values()) for r in rows),
        "p50": pct(ms, 0.5),
        "p95": pct(ms, 0.95),
    }


def real_centre() -> tuple[str, list[str], int, list]:
    """`make eval` on the real help centre, if it is checked out: imported by import_docs into
    a database of its own, asked with meaning and with words alone."""
    import io

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    from assistant.helpdocs import selectors

    if not REAL_DOCS.is_dir():
        return (
            f"\n## Real help centre\n\nSkipped: {REAL_DOCS} is not there (README, Answer "
            "quality, says how to fetch it).\n",
            [],
            0,
            [],
        )
    connections["default"].close()
    settings.DATABASES["default"]["NAME"] = connections["default"].settings_dict["NAME"] = str(
        REAL_DB
    )
    REAL_DB.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    out = io.StringIO()
    started = time.perf_counter()
    call_command("import_docs", str(REAL_DOCS), stdout=out)
    imported = time.perf_counter() - started
    settings.ASSISTANT_BACKENDS = ["docs"]
    from assistant.models import HelpDoc

    corpus = Corpus([f"{d.title}\n{d.body}" for d in HelpDoc.objects.all()])
    client = Client()
    results = []
    for name, embeddings in (("words and meaning", "local"), ("words alone", "off")):
        settings.HELP_EMBEDDINGS = embeddings
        selectors._indexes.clear()
        results.append(run_real(name, client, corpus))
    source = REAL_SET["source"]
    head = (
        f"\n## Real help centre\n\n{source['repo']} at {source['commit'][:12]}, "
        f"{source['folder']}: {out.getvalue().strip().splitlines()[-1]} "
        f"(import and embedding {imported:.0f} s). {len(REAL_SET['questions'])} questions, "
        "docs answer.\n\n| ranking | right section first | answer holds its passage | "
        "off-topic → not covered | anything invented, wrong label or contradiction | "
        "latency p50 / p95 |\n|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['name']} | {r['right'][0]}/{r['right'][1]} | {r['held'][0]}/{r['held'][1]} | "
        f"{r['off_topic'][0]}/{r['off_topic'][1]} | {r['invented']} | "
        f"{r['p50']:.0f} / {r['p95']:.0f} ms |"
        for r in results
    ]
    details = ["\n### Misses (words and meaning)\n"]
    for row in results[0]["rows"]:
        if row["sections"] and not (row["right"] and row["held"]):
            details.append(
                f"- {row['q']!r} → {row['section'] or 'not covered'} (wanted "
                f"{' or '.join(row['sections'])}; passage {'held' if row['held'] else 'missing'})"
            )
        elif not row["sections"] and row["covered"]:
            details.append(f"- off-topic {row['q']!r} → covered by {row['section']}")
    settings.HELP_EMBEDDINGS = "local"
    selectors._indexes.clear()
    followups = [("real help centre, rules", run_followups("real", client))]
    from assistant.backends.embedded import EmbeddedBackend

    if EmbeddedBackend().configured():
        rewritten = run_followups("real", client, by_model=True)
        followups.append(("real help centre, SmolLM2 rewriting", rewritten))
    return (
        head + "\n".join(lines) + "\n",
        details,
        sum(r["invented"] for r in results),
        followups,
    )


def main() -> int:
    import django

    DB.unlink(missing_ok=True)
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # The sections' vectors inline (the eager task), not in a background thread: each
    # measurement with meaning needs them all.
    settings.HELP_EMBED_IN_THREAD = False
    from django.test import Client

    from assistant.backends.embedded import EmbeddedBackend
    from assistant.models import HelpDoc
    from tests.ollama_standin import OllamaStandIn

    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("load_demo_docs", stdout=quiet)
    for doc in SET["extra_docs"]:
        HelpDoc.objects.update_or_create(slug=doc["slug"], defaults=doc)
    corpus = Corpus([f"{d.title}\n{d.body}" for d in HelpDoc.objects.all()])
    standin = OllamaStandIn().start()
    standin.reset(reply=hallucinating_reply)
    from django.conf import settings

    settings.OLLAMA_URL = standin.url
    client = Client()
    chains = [("docs", ["docs"])]
    if EmbeddedBackend().configured():
        chains.append(("embedded (SmolLM2-135M) + guard", ["embedded", "docs"]))
    else:
        print("embedded model not installed: skipped (make eval installs it)", file=sys.stderr)
    from bench import eval_guard  # the guard both ways; the same model behind llama.cpp's server

    server = eval_guard.serve_smollm2(settings)
    if server is not None:
        chains.append(("llama.cpp server (SmolLM2-135M) + guard", ["openai", "docs"]))
    chains.append(("hallucinating stand-in Ollama + guard", ["ollama", "docs"]))
    started = time.perf_counter()
    results = [run(name, chain, client, corpus) for name, chain in chains]
    standin.close()
    if server is not None:
        server.stop()
    settings.ASSISTANT_BACKENDS = ["docs"]
    followups = [("demo docs, rules", run_followups("demo", client))]
    if EmbeddedBackend().configured():
        followups.append(("demo docs, SmolLM2 rewriting", run_followups("demo", client, True)))
    out = table(results)
    n = len(SET["questions"])
    kinds = sorted({q["kind"] for q in SET["questions"]})
    summary = (
        f"# make eval\n\n{n} questions ({', '.join(kinds)}), {time.perf_counter() - started:.0f} s."
        "\n\n" + out + "\n"
    )
    details = ["\n## Answers that missed their label, or let something invented through\n"]
    for r in results:
        for row in r["rows"]:
            bad = sum(row["invented"].values()) or row["payload"]
            missed = row["doc"] and row["kind"] != "injection" and not row["label_ok"]
            if bad or missed:
                answer = row["answer"].replace("\n", " ")[:160]
                details.append(f"- {r['name']} · {row['q']!r} → {row['backend']}: {answer!r}")
    real, real_details, real_invented, real_followups = real_centre()
    followup_md = followup_table(followups + real_followups)
    from bench import eval_centres  # coverage on the three real help centres' held-out halves

    centres, centres_invented = eval_centres.section()
    real_invented += centres_invented
    guard, guard_leaked = eval_guard.guard_section(DB, REAL_DB if REAL_DOCS.is_dir() else None)
    real_invented += guard_leaked
    print(guard)
    (ROOT / "bench" / "eval_results.md").write_text(
        summary + "\n".join(details) + "\n" + real + "\n".join(real_details) + "\n" + followup_md
        + centres + guard
    )
    print(centres)
    print(summary)
    print("\n".join(details))
    print(real)
    print("\n".join(real_details))
    print(followup_md)
    leaked = sum(sum(r["invented"].values()) + r["payload"] for r in results) + real_invented
    from bench import eval_followups  # every set's follow-ups, rules alone and on evidence

    eval_followups.main([])
    return 1 if leaked else 0


if __name__ == "__main__":
    raise SystemExit(main())
