"""A help centre of 2,000 articles and 20,000 sections: the import, the index build, a question
to its ranked sections, and the memory the index takes in a worker.

The articles are generated (headings, paragraphs, numbered and nested lists, tables, an image
and an admonition each) from the words of the demo docs and a long tail of rarer words, as
Markdown files, then imported by `import_docs` as a site would. Embedding 20,000 sections
takes the task about an hour on 2 cores, so a sample is embedded to measure its rate, and the
rest of the index's vectors are random unit vectors (what a question costs is the same).

Run by `make bench`, or alone: `python -m bench.scale` (BENCH_SCALE_ARTICLES to change the
size).
"""

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARTICLES = int(os.environ.get("BENCH_SCALE_ARTICLES", "2000"))
SECTIONS = 10  # per article: its opening and 9 headings
QUESTIONS = 300
EMBED_SAMPLE = 200


def _vocabulary(rng: random.Random) -> list[str]:
    from assistant.models import HelpDoc

    common = sorted({w for body in HelpDoc.objects.values_list("body", flat=True)
                     for w in body.lower().split() if w.isalpha()})  # fmt: skip
    rare = [f"{rng.choice('bcdfgklmnprstv')}{rng.choice('aeiou')}{n:x}" for n in range(20_000)]
    return common + rare


def _words(rng: random.Random, vocabulary: list[str], n: int) -> str:
    """Zipf-like: a few words everywhere, most words rare."""
    out = []
    for _ in range(n):
        if rng.random() < 0.6:
            out.append(vocabulary[min(int(rng.paretovariate(0.9)) - 1, len(vocabulary) - 1)])
        else:
            out.append(rng.choice(vocabulary))
    return " ".join(out)


def _article(rng: random.Random, vocabulary: list[str], i: int) -> str:
    def words(n: int) -> str:
        return _words(rng, vocabulary, n)

    lines = [f"---\ntitle: Article {i} {words(3)}\nkeywords: [{words(1)}]\n---", ""]
    lines += [words(40) + ".", "", f"![Screen {i}](/img/{i}.png)", ""]
    for h in range(SECTIONS - 1):
        lines += [f"## {words(4).capitalize()} {{#s{h}}}", "", words(30) + ".", ""]
        if h % 3 == 0:
            lines += [f"{n}. Click **{words(2)}** and {words(8)}." for n in range(1, 5)]
            lines += ["   - " + words(10), ""]
        elif h % 3 == 1:
            lines += ["| Option | Effect |", "| --- | --- |"]
            lines += [f"| {words(2)} | {words(6)} |" for _ in range(3)] + [""]
        else:
            lines += [":::tip", words(20) + ".", ":::", ""]
    return "\n".join(lines)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run() -> dict:
    """The figures (after django.setup() on a fresh database with the demo docs)."""
    import io

    import numpy as np
    from django.core.management import call_command

    from assistant.helpdocs import selectors, semantic
    from assistant.helpdocs.index import SectionIndex
    from assistant.models import HelpDoc

    rng = random.Random(7)
    vocabulary = _vocabulary(rng)
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-scale-"))
    try:
        for i in range(ARTICLES):
            (folder / f"a{i // 100}").mkdir(exist_ok=True)
            (folder / f"a{i // 100}" / f"article-{i}.md").write_text(_article(rng, vocabulary, i))
        # The import alone: the sections' vectors are the task's (timed on a sample below).
        from django.conf import settings

        settings.HELP_EMBEDDINGS = "off"
        started = time.perf_counter()
        call_command("import_docs", str(folder), stdout=io.StringIO())
        import_s = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    selectors._indexes.clear()
    rss = _rss_kb()
    tracemalloc.start()
    started = time.perf_counter()
    index = selectors.build_index("public")
    build_s = time.perf_counter() - started
    index_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    sections = len(index.passages)

    texts = [semantic.section_text(p.title, p.text) for p in index.passages[:EMBED_SAMPLE]]
    settings.HELP_EMBEDDINGS = "local"
    started = time.perf_counter()
    semantic._embed(texts)
    embed_ms = (time.perf_counter() - started) * 1000 / len(texts)
    vectors = np.random.default_rng(7).standard_normal((sections, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with_meaning = index.with_vectors(vectors)
    index_rss_mb = (_rss_kb() - rss) / 1000

    picks = [rng.choice(index.passages) for _ in range(QUESTIONS)]
    questions = [" ".join(rng.sample(p.text.split(), min(5, len(p.text.split())))) for p in picks]

    def timed(idx: SectionIndex, meaning: bool) -> tuple[list[float], int]:
        """Each question's time to its ranked sections, and how often its section came first."""
        selectors._indexes.clear()
        selectors._indexes[(selectors.docs_version(), "public")] = idx
        settings.HELP_EMBEDDINGS = "local" if meaning else "off"
        times, found = [], 0
        for question, section in zip(questions, picks, strict=True):
            started = time.perf_counter()
            hits = selectors.helpdoc_retrieve(query=question, path="/", audience="public").hits
            times.append((time.perf_counter() - started) * 1000)
            found += bool(hits) and hits[0].passage is section
        return times, found

    words, found = timed(index, meaning=False)
    both, _ = timed(with_meaning, meaning=True)
    selectors._indexes.clear()
    return {
        "articles": HelpDoc.objects.filter(source__contains="helpdesk-scale-").count(),
        "sections": sections,
        "import_s": import_s,
        "build_s": build_s,
        "index_mb": index_mb,
        "index_rss_mb": index_rss_mb,
        "words_p50": statistics.median(words),
        "words_p95": sorted(words)[int(0.95 * len(words))],
        "meaning_p50": statistics.median(both),
        "meaning_p95": sorted(both)[int(0.95 * len(both))],
        "embed_ms": embed_ms,
        "found": (found, QUESTIONS),
    }


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    db = Path("/tmp/helpdesk-scale.sqlite3")
    db.unlink(missing_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{db}")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.HELP_EMBED_IN_THREAD = False  # the bench times the import alone
    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("load_demo_docs", stdout=quiet)
    print(run())


if __name__ == "__main__":
    main()
