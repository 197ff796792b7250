"""`make mutants`: break each mechanism on purpose, in a scratch copy, and check that its tests
fail. Each mutation below was once made by hand in review and the whole suite stayed green;
each now has a test that catches it. Rerun after changing one of these mechanisms.

    python -m tests.mutations            # every mutation
    python -m tests.mutations lru        # those whose name contains "lru"

The copy holds the tracked files with one edit; the named test files run in it (against the
same DATABASE_URL / REDIS_URL as `make test`). A mutation whose tests still pass is reported
as SURVIVED and the script exits 1.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation(
        "breaker: several probes at once after the cooldown",
        "assistant/backends/breaker.py",
        'if not cache.add(_KEY + name + ":probe", 1, 10):',
        "if False:",
        ("tests/test_breaker.py",),
    ),
    Mutation(
        "retries: no backoff between attempts",
        "assistant/backends/remote.py",
        "await asyncio.sleep(backoff * 2**attempt)",
        "await asyncio.sleep(0)",
        ("tests/test_ollama_client.py",),
    ),
    Mutation(
        "cache key: the reply language left out",
        "assistant/answering/answer_cache.py",
        "language or guess_language(question),",
        '"",',
        ("tests/test_api_help.py",),
    ),
    Mutation(
        "health: 200 even when nothing can answer",
        "assistant/views.py",
        'status=200 if report["can_answer"] else 503',
        "status=200",
        ("tests/test_api_help.py",),
    ),
    Mutation(
        "rate limit: keyed by IP even for a signed-in user",
        "assistant/web/visitors.py",
        'Visitor(ident, (ident,), _hash(_secret("rate-limit"), f"u:{user.pk}"))',
        'Visitor(ident, (ident,), _hash(_secret("rate-limit"), f"ip:{client_ip}"))',
        ("tests/test_api_help.py",),
    ),
    Mutation(
        "widget: hints kept when the path changes",
        "assistant/static/assistant/widget.js",
        "if (this.hints === null || this.hintsPath !== location.pathname) {",
        "if (this.hints === null) {",
        ("tests/test_widget_browser.py",),
    ),
    Mutation(
        "widget: the LRU forgets what was used last",
        "assistant/static/assistant/widget.js",
        "    this.map.delete(key);\n    this.map.set(key, value);\n    return value;",
        "    return value;",
        ("tests/test_widget_browser.py",),
    ),
    Mutation(
        "guard: links to any site kept",
        "assistant/answering/grounding.py",
        '"""This site\'s own paths only (a source, or a page the site serves)."""',
        '"""This site\'s own paths only (a source, or a page the site serves)."""\n'
        "        return True",
        ("tests/test_grounding.py",),
    ),
    *(
        Mutation(f"guard: {name}", f"assistant/answering/{path}", old, new, tests)
        for name, path, old, new, tests in (
            (
                "a label written plainly names nothing",
                "steps.py",
                "if any(phrase(words) and self._known(words) for words in plain):",
                "if False:",
                ("tests/test_guard_claims.py", "tests/test_widget_browser.py"),
            ),
            (
                "a plain label may be a shorter one of the docs",
                "steps.py",
                "least = len(head.group(0).split())",
                "least = 1",
                ("tests/test_guard_claims.py",),
            ),
            (
                "small talk is a claim",
                "grounding.py",
                "self._says = bool(topic or _NUMBER.search(body) or labels_in(body))",
                "self._says = True",
                ("tests/test_guard_claims.py",),
            ),
            (
                "a restriction restated is a contradiction",
                "steps.py",
                "if only.restrictive and denied.content - only.content:",
                "if False:",
                ("tests/test_guard_claims.py",),
            ),
            (
                "a negation reaches the whole sentence",
                "steps.py",
                "return [c for c, _ in _split(sentence)]",
                "return [sentence]",
                ("tests/test_guard_claims.py",),
            ),
            (
                "a bound is a negation",
                "steps.py",
                'text = _BOUND.sub(" ", _NOT_NEGATING.sub(" ", text))',
                'text = _NOT_NEGATING.sub(" ", text)',
                ("tests/test_guard_claims.py",),
            ),
            (
                "a Yes or No opener is not checked",
                "grounding.py",
                "if asks and self._steps.contradicts_reply(self._question, yes):",
                "if False:",
                ("tests/test_guard_claims.py",),
            ),
            (
                "sentences held until the end of the generation",
                "grounding.py",
                "if not self._specific and self._names_something(sentence):",
                "if False:",
                ("tests/test_guard_claims.py", "tests/test_widget_browser.py"),
            ),
            (
                "giving up after a third sentence",
                "grounding.py",
                "REJECT_AFTER_HELD = 2",
                "REJECT_AFTER_HELD = 3",
                ("tests/test_guard_claims.py",),
            ),
        )
    ),
    Mutation(
        "metrics: upstream errors not counted",
        "assistant/backends/__init__.py",
        "            metrics.UPSTREAM_ERRORS.labels(backend.name).inc()\n",
        "",
        ("tests/test_stats_feedback_metrics.py",),
    ),
    Mutation(
        "streams: the request's thread kept while its answer streams",
        "assistant/views.py",
        "    aio.release_request_thread()\n",
        "",
        ("tests/test_capacity_live.py",),
    ),
    Mutation(
        "single-flight without Redis: flights not registered in the process",
        "assistant/answering/flight.py",
        "flight = _local[key] = Flight(key)",
        "flight = Flight(key)",
        ("tests/test_singleflight.py",),
    ),
    Mutation(
        "coverage: a maybe answered at once, as none (no model asked)",
        "assistant/answering/service.py",
        "    if prompt.coverage == NONE:\n",
        "    if not prompt.covered:\n",
        ("tests/test_coverage_outcomes.py",),
    ),
    Mutation(
        "coverage: the docs answer of a maybe presented as a sure answer",
        "assistant/backends/docs.py",
        "    if prompt.coverage == MAYBE and prompt.sections:",
        "    if False:",
        ("tests/test_coverage_outcomes.py",),
    ),
    Mutation(
        "coverage: the model's \"the docs don't say\" on a maybe replaced by the docs answer",
        "assistant/backends/__init__.py",
        'if prompt.coverage == MAYBE and says_not_covered("".join(raw)):',
        "if False:",
        ("tests/test_coverage_outcomes.py",),
    ),
    Mutation(
        "coverage: an answer cached before coverage replays as covered",
        "assistant/answering/service.py",
        'return hit.get("coverage") or (COVERED if hit.get("covered", True) else NONE)',
        'return hit.get("coverage") or COVERED',
        ("tests/test_coverage_outcomes.py",),
    ),
    Mutation(
        "statistics: partly covered questions listed as doc gaps",
        "assistant/querylog/rollups.py",
        "filter=Q(doc_matched=False) & ~Q(coverage=Coverage.MAYBE)",
        "filter=Q(doc_matched=False)",
        ("tests/test_coverage_outcomes.py",),
    ),
]


def _scratch_copy() -> Path:
    """The tracked files (as they are in the working tree), with the virtualenv linked."""
    dest = Path(tempfile.mkdtemp(prefix="helpdesk-mutant-"))
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


# Run first, unchanged: the copy's tests must pass, or "caught" would mean nothing.
CONTROL = Mutation("control: no change", "assistant/views.py", "def ", "def ", ())


def run(mutation: Mutation) -> bool:
    """True when the mutation's tests fail (the mutant is caught)."""
    copy = _scratch_copy()
    try:
        target = copy / mutation.path
        text = target.read_text()
        if mutation is not CONTROL and text.count(mutation.old) != 1:
            raise SystemExit(f"{mutation.name}: the text to change is not in {mutation.path}")
        target.write_text(text.replace(mutation.old, mutation.new))
        tests = mutation.tests or tuple(sorted({t for m in MUTATIONS for t in m.tests}))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             "-p", "no:randomly", *tests],
            cwd=copy,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
        )
        return result.returncode != 0
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def main(patterns: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not patterns or any(p in m.name for p in patterns)]
    if run(CONTROL):
        print("the unchanged copy fails its tests: fix that first")
        return 2
    print("control   the unchanged copy passes every test file named below", flush=True)
    survived = []
    for mutation in chosen:
        caught = run(mutation)
        print(f"{'caught  ' if caught else 'SURVIVED'}  {mutation.name}", flush=True)
        if not caught:
            survived.append(mutation.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
