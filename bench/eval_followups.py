"""Follow-ups on evidence: each pair's first question, then its follow-up with the first
answer's id as history, through the JSON endpoint (docs answer), on four sets:
  bench/eval_followups.json   the demo docs and Mastodon's guide (28 pairs)
  bench/eval_paraphrases.json "pairs": the demo docs, no cue and no pronoun (17, 5 switches)
  bench/eval_poetry_set.json  "pairs": Poetry's docs (12)
  bench/eval_obsidian_set.json "pairs": Obsidian Help, English (12)
Each corpus in a temporary SQLite database of its own (the real ones imported by
import_docs, their vectors computed before the pairs). Right: the follow-up's answer is
covered or `maybe` and its first source is a wanted section; a switch is right only when
it also carries nothing from the first turn (its resolved question is the typed one, and
it is no follow-up). "Without a cue or pronoun": as the rules read it (followups.signals).
Printed per set, for the rules alone (the follow-up as the rules rewrite it, no ranking of
readings) and for the readings ranked on evidence.

    .venv/bin/python -m bench.eval_followups [--rules | --evidence] [--fresh] [set ...]

--fresh: new databases (else the last run's are imported into again: their vectors kept).
"""

import io
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.corpora import ask_help, section_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for name, value in {
    "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    "SECRET_KEY": "eval-only-not-secret",
    "DATABASE_URL": f"sqlite:///{tempfile.gettempdir()}/helpdesk-eval-followups.sqlite3",
    "HELP_LOG_BATCH_SECONDS": "0",
    "HELP_RATE_LIMIT": "0/60",
    "ALLOWED_HOSTS": "testserver",
}.items():
    os.environ.setdefault(name, value)
if os.environ["DATABASE_URL"].startswith("sqlite"):
    os.environ.pop("REDIS_URL", None)

BENCH = ROOT / "bench"
EVAL = ROOT / ".eval"
SETS = ("followups", "paraphrases", "poetry", "obsidian")


def _pairs(name: str) -> list[dict]:
    """The set's pairs, each with its corpus and `want`: the doc slugs or slug#anchors that
    may answer first."""
    if name == "followups":
        return json.loads((BENCH / "eval_followups.json").read_text())["pairs"]
    if name == "paraphrases":
        pairs = json.loads((BENCH / "eval_paraphrases.json").read_text())["pairs"]
        return [{**p, "corpus": "demo"} for p in pairs]
    data = json.loads((BENCH / f"eval_{name}_set.json").read_text())
    return [{**p, "corpus": name, "path": "/", "want": _wanted(p, data["source"]["folder"])}
            for p in data["pairs"]]  # fmt: skip


def _wanted(pair: dict, folder: str) -> list[str]:
    """The section names a real set's pair names: its file's doc slug (as import_docs makes it
    from the path) and each heading's anchor; no heading: the doc itself (any section)."""
    from assistant.helpdocs.importing import _slug_from_path
    from assistant.helpdocs.parsing import slugify_heading

    slug = _slug_from_path(pair["file"].removeprefix(f"{folder}/"))
    if not pair["headings"]:
        return [slug, f"{slug}#*"]
    return [f"{slug}#{slugify_heading(h)}" for h in pair["headings"]]


def _real_folder(corpus: str) -> Path:
    if corpus == "real":
        source = json.loads((BENCH / "eval_real_set.json").read_text())["source"]
        return (
            Path(os.environ.get("EVAL_REAL_DOCS", EVAL / "mastodon-documentation"))
            / (source["folder"])
        )
    source = json.loads((BENCH / f"eval_{corpus}_set.json").read_text())["source"]
    return EVAL / {"poetry": "poetry", "obsidian": "obsidian-help"}[corpus] / source["folder"]


def _database(corpus: str, folder: Path, fresh: bool) -> str:
    """A database holding the corpus's docs (the last run's, its sections' vectors kept,
    unless `fresh`); returns what was imported, in words."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from assistant.helpdocs import selectors

    connections["default"].close()
    path = Path(tempfile.gettempdir()) / f"helpdesk-eval-followups-{corpus}.sqlite3"
    if fresh:
        path.unlink(missing_ok=True)
    settings.DATABASES["default"]["NAME"] = connections["default"].settings_dict["NAME"] = str(path)
    call_command("migrate", verbosity=0)
    out = io.StringIO()
    if corpus == "demo":
        from assistant.models import HelpDoc

        call_command("load_demo_docs", stdout=out)
        extra = json.loads((BENCH / "eval_set.json").read_text())["extra_docs"]
        for doc in extra:
            HelpDoc.objects.update_or_create(slug=doc["slug"], defaults=doc)
        summary = f"demo docs and {len(extra)} more"
    else:
        call_command("import_docs", str(folder), stdout=out)
        summary = next(x for x in out.getvalue().splitlines() if " unchanged, " in x)
    from assistant.helpdocs import semantic
    from assistant.models import HelpDoc

    # The vectors now, in this process: the server's background thread would race the pairs.
    semantic.embed_docs(HelpDoc.objects.values_list("pk", flat=True))
    selectors._indexes.clear()
    return summary


def _right(source: str, want: list[str]) -> bool:
    doc = source.split("#")[0]
    return source in want or (f"{doc}#*" in want and source.startswith(f"{doc}"))


def _no_cue(question: str) -> bool:
    """The follow-up has no opening cue and no pronoun, as the rules read it."""
    from assistant.answering import followups

    return not followups.signals(question)


def run_pairs(pairs: list[dict], client) -> list[dict]:
    from django.core.cache import cache

    rows = []
    for pair in pairs:
        cache.clear()
        first = ask_help(client, pair["first"], pair.get("path", "/"))
        history = [{"question": pair["first"], "id": first["id"]}]
        body = ask_help(client, pair["then"], pair.get("path", "/"), history)
        answered = body["sources"] and body.get("coverage", "covered" if body["covered"] else "")
        source = section_name(body["sources"][0]["url"]) if answered and answered != "none" else ""
        carried = body["resolved"] != pair["then"] or bool(body.get("follow_up"))
        right = _right(source, pair["want"]) and not (pair["switch"] and carried)
        rows.append({**pair, "resolved": body["resolved"], "source": source, "right": right,
                     "carried": carried, "no_cue": _no_cue(pair["then"])})  # fmt: skip
    return rows


def _mode(mode: str) -> None:
    """The service's reading of a follow-up: ranked on evidence, or the rules' alone."""
    from assistant.answering import followups

    followups.RULES_ONLY = mode == "rules"


def _figures(rows: list[dict]) -> dict:
    follow = [r for r in rows if not r["switch"]]
    no_cue = [r for r in follow if r["no_cue"]]
    switches = [r for r in rows if r["switch"]]
    return {
        "right": (sum(r["right"] for r in rows), len(rows)),
        "follow": (sum(r["right"] for r in follow), len(follow)),
        "no_cue": (sum(r["right"] for r in no_cue), len(no_cue)),
        "switches": (sum(r["right"] for r in switches), len(switches)),
        "carried": sum(r["carried"] for r in switches),
    }


def evaluate(
    sets: tuple[str, ...] = SETS, modes: tuple[str, ...] = ("rules", "evidence"), fresh=False
) -> str:
    """Runs the sets, returns the Markdown table and the misses."""
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    settings.ASSISTANT_BACKENDS = ["docs"]
    by_corpus: dict[str, list[tuple[str, dict]]] = {}
    for name in sets:
        for pair in _pairs(name):
            by_corpus.setdefault(pair["corpus"], []).append((name, pair))
    results: dict[tuple[str, str], list[dict]] = {}
    notes = []
    client = Client()
    for corpus, items in by_corpus.items():
        folder = _real_folder(corpus) if corpus != "demo" else Path()
        if corpus != "demo" and not folder.is_dir():
            notes.append(f"- {corpus}: skipped, {folder} is not there")
            continue
        notes.append(f"- {corpus}: {_database(corpus, folder, fresh)}")
        for mode in modes:
            _mode(mode)
            for name in sets:
                pairs = [p for n, p in items if n == name]
                if pairs:
                    results.setdefault((name, mode), []).extend(run_pairs(pairs, client))
    _mode("evidence")
    head = (
        "\n## Follow-ups\n\n| set, reading | right | follow-ups right | of them without a cue or "
        "pronoun | switches right, carrying nothing | switches carrying something |\n"
        "|---|---|---|---|---|---|\n"
    )
    lines, misses = [], []
    for (name, mode), rows in results.items():
        f = _figures(rows)
        lines.append(
            f"| {name}, {mode} | {f['right'][0]}/{f['right'][1]} | {f['follow'][0]}/"
            f"{f['follow'][1]} | {f['no_cue'][0]}/{f['no_cue'][1]} | {f['switches'][0]}/"
            f"{f['switches'][1]} | {f['carried']} |"
        )
        misses += [
            f"- {name}, {mode} · {r['first']!r} → {r['then']!r}: understood as "
            f"{r['resolved']!r}, answered from {r['source'] or 'nothing'} "
            f"(wanted {' or '.join(w for w in r['want'] if not w.endswith('#*'))})"
            for r in rows
            if not r["right"]
        ]
    return (
        head
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(notes)
        + "\n\n### Misses\n\n"
        + ("\n".join(misses) + "\n")
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    modes = tuple(m.removeprefix("--") for m in args if m in ("--rules", "--evidence"))
    sets = tuple(a for a in args if a in SETS) or SETS
    print(evaluate(sets, modes or ("rules", "evidence"), fresh="--fresh" in args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
