"""The help centres `make eval` measures retrieval and coverage on: three real ones written by
others (fetched into .eval/, never committed: docs/answer-quality.md says how) and the demo
docs, each with questions written blind before any tuning.

Each real centre's questions are split in two by a hash of their text: the dev half may
inform a design or a fit (bench/fit_coverage.py), the held-out half is what the figures
report. One whole centre (Obsidian's) is kept out of all tuning.
"""

import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / ".eval"


@dataclass(frozen=True)
class Centre:
    name: str
    set_file: str
    checkout: str  # under .eval/
    folder: str  # imported, under the checkout
    held_out_whole: bool = False

    @property
    def path(self) -> Path:
        return EVAL / self.checkout / self.folder

    @property
    def db(self) -> Path:
        return Path(f"/tmp/helpdesk-eval-{self.name}.sqlite3")


CENTRES = (
    Centre("mastodon", "eval_real_set.json", "mastodon-documentation", "content/en/user"),
    Centre("poetry", "eval_poetry_set.json", "poetry", "docs"),
    # English only: embedding the French translation too takes longer than make eval should.
    Centre("obsidian", "eval_obsidian_set.json", "obsidian-help", "en", held_out_whole=True),
)


@dataclass
class Question:
    q: str
    path: str
    want: set[str]  # "slug#anchor" (or "slug" for any section of the doc); empty: off-topic
    passage: str | None
    held_out: bool
    lang: str = "en"
    kind: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def off_topic(self) -> bool:
        return not self.want


def held_out(text: str) -> bool:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 2 == 1


def section_name(url: str) -> str:
    """ "/assistant/docs/moderating/#filters" → "moderating#filters"."""
    return url.removeprefix("/assistant/docs/").replace("/#", "#").rstrip("/")


def ask_help(client, question: str, path: str, history: list | None = None) -> dict:
    """The JSON endpoint's answer to `question` (Django's test client), asserted 200."""
    body = {"question": question, "path": path, "hints": ""}
    if history:
        body["history"] = history
    r = client.post("/assistant/api/help/", body, content_type="application/json")
    assert r.status_code == 200, (question, r.content)
    return r.json()


def wanted(name: str, want: set[str]) -> bool:
    return name in want or name.split("#")[0] in want


def use_database(path: Path, fresh: bool = False) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from assistant.helpdocs import selectors

    connections["default"].close()
    settings.DATABASES["default"]["NAME"] = str(path)
    connections["default"].settings_dict["NAME"] = str(path)
    if fresh:
        path.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    selectors._indexes.clear()
    selectors.docs_version_reset()


def load_centre(centre: Centre) -> tuple[list[Question], str]:
    """The centre imported into its own database (kept between runs while its docs are
    the same), and its questions with the sections that answer them as slug#anchor."""
    from django.core.management import call_command

    from assistant.helpdocs.text import normalise_question
    from assistant.models import HelpDoc

    spec = json.loads((ROOT / "bench" / centre.set_file).read_text())
    stamp = centre.db.with_suffix(".imported")
    marker = f"{spec['source']['commit']}:{centre.folder}"
    fresh = not (centre.db.exists() and stamp.exists() and stamp.read_text() == marker)
    use_database(centre.db, fresh=fresh)
    report = ""
    if fresh:
        out = io.StringIO()
        started = time.perf_counter()
        call_command("import_docs", str(centre.path), stdout=out)
        lines = out.getvalue().strip().splitlines()
        took = time.perf_counter() - started
        report = f"{lines[-1] if lines else ''} (import and embedding {took:.0f} s)"
        stamp.write_text(marker)
    else:
        report = f"{HelpDoc.objects.count()} docs (imported earlier)"
    from assistant.helpdocs import semantic
    from assistant.helpdocs.importing import _slug_from_path

    # An import leaves the sections' vectors to the background: the eval needs them now.
    semantic.embed_docs(HelpDoc.objects.values_list("pk", flat=True))

    docs = {d.slug: d for d in HelpDoc.objects.all()}

    def sections_of(file: str, headings: list[str]) -> set[str]:
        slug = _slug_from_path(file.removeprefix(f"{centre.folder}/"))
        doc = docs.get(slug)
        if doc is None:
            raise SystemExit(f"{centre.name}: no doc {slug} for {file}")
        if not headings:
            return {slug}
        want = {normalise_question(h.replace("`", "")) for h in headings}
        found = set()
        for section in doc.parsed_sections():
            path = [normalise_question(h) for h in section.headings]
            if any(h in want for h in path[1:] or path):
                found.add(f"{slug}#{section.anchor}" if section.anchor else slug)
        if not found:
            raise SystemExit(f"{centre.name}: no section {headings} in {slug}")
        return found

    questions = []
    for item in spec["questions"]:
        if item.get("lang", "en") != "en" and centre.folder == "en":
            continue  # the French translation is not imported
        if "sections" in item:  # Mastodon's set names them already
            want = set(item["sections"])
        elif item.get("kind") == "off_topic" or not item.get("file"):
            want = set()
        else:
            want = sections_of(item["file"], item.get("headings") or [])
        questions.append(
            Question(
                q=item["q"],
                path="/",
                want=want,
                passage=item.get("passage"),
                held_out=centre.held_out_whole or held_out(item["q"]),
                lang=item.get("lang", "en"),
            )
        )
    for pair in spec.get("pairs", []):
        pair["want_sections"] = sorted(sections_of(pair["file"], pair.get("headings") or []))
    return questions, report


def demo_questions() -> list[Question]:
    """The demo docs' questions (bench/eval_set.json and the blind paraphrases), on a fresh
    database with the demo docs and the set's extra docs."""
    from django.core.management import call_command

    from assistant.models import HelpDoc

    use_database(Path("/tmp/helpdesk-eval-demo.sqlite3"), fresh=True)
    call_command("load_demo_docs", verbosity=0)
    spec = json.loads((ROOT / "bench" / "eval_set.json").read_text())
    for extra in spec.get("extra_docs", []):
        HelpDoc.objects.create(**extra)
    paraphrases = json.loads((ROOT / "bench" / "eval_paraphrases.json").read_text())
    out = []
    for item in spec["questions"] + paraphrases["questions"]:
        if item["kind"] == "injection":
            continue
        out.append(
            Question(
                q=item["q"],
                path=item.get("path", "/"),
                want={item["doc"]} if item.get("doc") else set(),
                passage=item.get("label"),
                held_out=item in paraphrases["questions"],
                lang=item.get("lang", "en"),
                kind=item["kind"],
                extra=item,
            )
        )
    return out


def setup_django() -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "SECRET_KEY": "eval-only-not-secret",
            "DATABASE_URL": "sqlite:////tmp/helpdesk-eval.sqlite3",
            "HELP_LOG_BATCH_SECONDS": "0",
            "HELP_RATE_LIMIT": "0/60",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.ASSISTANT_BACKENDS = ["docs"]
    settings.HELP_EMBED_IN_THREAD = False  # load_centre embeds what an import leaves
