"""The three coverage outcomes, end to end: `coverage` in the JSON answer and the stream's
`meta`, what a reader gets for each (a model asked or not, the docs' hedge for `maybe`), the
cache replaying it, the query log keeping it, and the statistics page counting `maybe` apart."""

import dataclasses
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from assistant import backends
from assistant.answering import answer_cache, service
from assistant.answering.events import Meta, decode, encode
from assistant.helpdocs.selectors import COVERED, MAYBE, NONE
from assistant.models import Coverage, QueryLog, QueryStatus
from assistant.querylog import stats
from tests.conftest import Recording, log_row, sse_events, unique_question
from tests.ollama_standin import GROUNDED_TOKENS

pytestmark = pytest.mark.django_db

ADD = {"question": "How do I add a new customer?", "path": "/clients/"}
OFF_TOPIC = {"question": "weather tomorrow", "path": "/"}
NOT_COVERED = "The help docs don't cover this yet."


@pytest.fixture
def maybe(monkeypatch):
    """Retrieval decides `maybe` where it would decide `covered`: its best sections become the
    candidates (the decision itself is helpdocs' to make and test)."""
    real = service.helpdoc_retrieve

    def as_maybe(**kwargs):
        found = real(**kwargs)
        assert found.sections, "a candidate to offer"
        return dataclasses.replace(found, coverage=MAYBE)

    monkeypatch.setattr(service, "helpdoc_retrieve", as_maybe)


def _stream(ask, body: dict) -> tuple[dict, str]:
    """The stream's meta and its text."""
    events = [e for e in sse_events(ask(body, "help/stream").streamed) if e[0] != "comment"]
    assert [k for k, _ in events][0] == "meta" and events[-1][0] == "done", events
    return events[0][1], "".join(d["text"] for k, d in events if k == "token")


def _row(body: dict) -> QueryLog:
    return QueryLog.objects.get(id=body["id"])


def test_a_covered_question_says_so_in_the_answer_and_the_meta(ask, demo_docs):
    body = ask(ADD).json()
    assert body["coverage"] == COVERED and body["covered"] is True
    assert body["answer"].startswith("From [")
    meta, _ = _stream(ask, {**ADD, "question": unique_question(ADD["question"])})
    assert meta["coverage"] == COVERED and meta["covered"] is True
    assert _row(body).coverage == Coverage.COVERED


def test_an_uncovered_question_calls_no_model(ask, ollama):
    body = ask(OFF_TOPIC).json()
    assert body["coverage"] == NONE and body["covered"] is False
    assert body["backend"] == "docs" and body["answer"].startswith(NOT_COVERED)
    meta, text = _stream(ask, OFF_TOPIC)
    assert meta["coverage"] == NONE and text.startswith(NOT_COVERED)
    assert ollama.chat_bodies == [] and not ollama.requests
    row = _row(body)
    assert row.coverage == Coverage.NONE and row.status == QueryStatus.NOT_COVERED


def test_maybe_with_a_model_asks_it_with_the_best_section(ask, ollama, maybe):
    body = ask(ADD).json()
    assert body["coverage"] == MAYBE and body["covered"] is False
    assert body["backend"] == "ollama" and body["answer"] == "".join(GROUNDED_TOKENS)
    assert len(ollama.chat_bodies) == 1
    prompt = ollama.chat_bodies[0]["messages"][-1]["content"]
    assert "[Creating a client]" in prompt and "New client" in prompt
    meta, text = _stream(ask, {**ADD, "question": unique_question(ADD["question"])})
    assert meta["coverage"] == MAYBE and meta["backend"] == "ollama"
    assert text == "".join(GROUNDED_TOKENS) and len(ollama.chat_bodies) == 2
    row = _row(body)
    assert row.coverage == Coverage.MAYBE and row.status == QueryStatus.OK


@pytest.mark.parametrize(
    ("lang", "reply"), [("en", "The help docs don't say."), ("fr", "L'aide n'en dit rien.")]
)
def test_maybe_the_models_docs_dont_say_reaches_the_reader(ask, ollama, maybe, lang, reply):
    """The guard holds a reply that names nothing of the passages; this one is honoured."""
    ollama.reset(tokens=["The help ", "docs don't ", "say."])
    body = ask({**ADD, "lang": lang}).json()
    assert body["backend"] == "ollama" and body["coverage"] == MAYBE
    assert body["answer"] == reply
    assert len(ollama.chat_bodies) == 1


def test_a_covered_questions_docs_dont_say_gets_the_docs_answer(ask, ollama):
    """Where retrieval is sure, the quote answers (only `maybe` leaves the model to decide)."""
    ollama.reset(tokens=["The help ", "docs don't ", "say."])
    body = ask(ADD).json()
    assert body["backend"] == "docs" and body["answer"].startswith("From [")


@pytest.mark.parametrize(("lang", "hedge"), [("en", "This may help:"), ("fr", "Ceci pourrait")])
def test_maybe_docs_only_offers_the_best_section_as_possibly_helpful(
    ask, demo_docs, maybe, lang, hedge
):
    body = ask({**ADD, "lang": lang}).json()
    assert body["coverage"] == MAYBE and body["backend"] == "docs"
    best = body["sources"][0]
    head, link, quote = body["answer"].split("\n\n", 2)
    assert head.startswith(hedge) and link == f"[{best['title']}]({best['url']})"
    assert "From [" not in body["answer"] and "D'après" not in body["answer"]
    assert quote.strip()  # the section's passage, under its link
    meta, text = _stream(ask, {**ADD, "lang": lang, "question": unique_question(ADD["question"])})
    assert meta["coverage"] == MAYBE and text.startswith(hedge)
    row = _row(body)
    assert row.coverage == Coverage.MAYBE and row.status == QueryStatus.FALLBACK


def test_maybe_hedges_when_the_model_fails(ask, demo_docs, maybe, settings, monkeypatch):
    failing = Recording(fail=True)
    monkeypatch.setitem(backends.REGISTRY, "recording", failing)
    settings.ASSISTANT_BACKENDS = ["recording", "docs"]
    body = ask(ADD).json()
    assert len(failing.prompts) == 1
    assert body["backend"] == "docs" and body["coverage"] == MAYBE
    best = body["sources"][0]
    assert body["answer"].startswith(f"This may help:\n\n[{best['title']}]({best['url']})\n\n")


def test_a_cached_answer_replays_its_coverage(ask, demo_docs, maybe, recording):
    first = ask(ADD).json()
    again = ask(ADD).json()
    assert again["cached"] is True and len(recording.prompts) == 1
    assert first["coverage"] == again["coverage"] == MAYBE and again["covered"] is False


@pytest.mark.parametrize(("covered", "coverage"), [(True, COVERED), (False, NONE)])
def test_an_entry_cached_before_coverage_reads_it_from_covered(
    ask, demo_docs, covered, coverage
):
    key = answer_cache.cache_key(question=ADD["question"], path=ADD["path"], audience="public")
    old = {"answer": "Old.", "sources": [], "covered": covered, "backend": "docs", "model": "docs"}
    answer_cache.put(key, old)
    body = ask(ADD).json()
    assert body["cached"] is True and body["answer"] == "Old."
    assert body["coverage"] == coverage and body["covered"] is covered


def test_a_shared_flight_carries_the_coverage():
    """Another worker's readers receive the meta through Redis as JSON."""
    meta = decode(*encode(Meta(backend="docs", model="docs", coverage=MAYBE)))
    assert meta.coverage == MAYBE and meta.covered is False


@pytest.fixture
def partly_logged(db):
    QueryLog.objects.all().delete()
    log_row(question="add a client", coverage=COVERED, doc_matched=True)
    for visitor in ("a", "b"):
        log_row(question="bill monthly", coverage=MAYBE, doc_matched=False, visitor=visitor)
    log_row(
        question="weather tomorrow",
        coverage=NONE,
        doc_matched=False,
        status=QueryStatus.NOT_COVERED,
        backend="docs",
    )


def test_the_statistics_count_partly_covered_apart(partly_logged):
    s = stats.latency_stats(since=timezone.now() - timedelta(hours=24))
    assert s["maybe"] == 2 and s["maybe_rate"] == pytest.approx(0.5)
    assert s["not_covered_rate"] == pytest.approx(0.25)
    assert s["partly"] == [{"question": "bill monthly", "n": 2}]
    assert s["unmatched"] == [{"question": "weather tomorrow", "n": 1}]


def test_the_statistics_page_lists_partly_covered_questions(client, partly_logged):
    client.force_login(
        get_user_model().objects.create_user("s", password="x", is_staff=True, is_superuser=True)
    )
    html = client.get("/admin/assistant/querylog/stats/").content.decode()
    assert "partly covered 50 %" in html
    gaps, partly = html.split("<h2>Questions the docs don't cover")[1].split("<h2>Partly covered")
    assert "weather tomorrow" in gaps and "bill monthly" not in gaps
    assert "bill monthly" in partly.split("<h2>")[0]
