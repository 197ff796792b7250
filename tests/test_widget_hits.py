"""POST /assistant/api/widget-hits/: a hit counts only as a replay of an answer the server gave
to the same visitor; forged hits move neither the statistics nor the prefetch task."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from assistant import metrics, tasks
from assistant.models import CacheLevel, QueryLog
from assistant.querylog import stats
from tests.conftest import log_row

pytestmark = pytest.mark.django_db

EXPORT = {"question": "How do I export invoices?", "path": "/invoices/", "hints": ""}
ADD = {"question": "How do I add a new customer?", "path": "/clients/", "hints": ""}
SPAM = "Buy cheap pills at evil example dot com"
READER, OTHER, ATTACKER = "10.0.0.1", "10.0.0.2", "10.6.6.6"


def _hits(ask, hits: list[dict], address: str):
    return ask({"hits": hits}, endpoint="widget-hits", REMOTE_ADDR=address)


def _rejected() -> float:
    return metrics.WIDGET_HITS_REJECTED._value.get()


def test_a_hit_logs_the_answer_the_server_gave_not_the_text_the_client_sent(ask, demo_docs):
    answer = ask(EXPORT, REMOTE_ADDR=READER).json()
    r = _hits(ask, [{"id": answer["id"], "path": "/evil/", "question": SPAM}], READER)
    assert r.status_code == 204
    replay = QueryLog.objects.get(cache_level=CacheLevel.WIDGET)
    original = QueryLog.objects.get(id=answer["id"])
    assert (replay.question, replay.path, replay.doc_matched) == (
        original.question,
        "/invoices/",
        True,
    )
    assert replay.visitor == original.visitor


@pytest.mark.parametrize(
    "body", [{"hits": "x"}, {"hits": [{}]}, {"hits": [{"question": "q"}]}, {"hits": [{}] * 51}]
)
def test_malformed_hits_are_a_400(ask, body):
    r = ask(body, endpoint="widget-hits")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_unknown_and_foreign_ids_are_ignored_and_counted_as_rejected(ask, demo_docs):
    mine = ask(EXPORT, REMOTE_ADDR=READER).json()["id"]
    theirs = ask(ADD, REMOTE_ADDR=OTHER).json()["id"]
    before = _rejected()
    hits = [{"id": theirs}, {"id": str(uuid.uuid4())}, {"id": "not-a-uuid"}, {"id": mine}]
    assert _hits(ask, hits, READER).status_code == 204
    assert _rejected() == before + 3
    assert list(
        QueryLog.objects.filter(cache_level=CacheLevel.WIDGET).values_list("question", flat=True)
    ) == [QueryLog.objects.get(id=mine).question]


def test_hit_reports_are_rate_limited_per_visitor(ask, demo_docs, settings):
    settings.HELP_HITS_RATE_LIMIT = "3/60"
    answer_id = ask(EXPORT, REMOTE_ADDR=READER).json()["id"]
    statuses = [_hits(ask, [{"id": answer_id}], READER).status_code for _ in range(5)]
    assert statuses == [204, 204, 204, 429, 429]
    limited = _hits(ask, [{"id": answer_id}], READER)
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited["Retry-After"]) > 0
    # another visitor has a budget of its own
    assert _hits(ask, [{"id": answer_id}], OTHER).status_code == 204
    assert QueryLog.objects.filter(cache_level=CacheLevel.WIDGET).count() == 3


def test_top_questions_count_distinct_visitors_not_rows(ask, demo_docs):
    for address in (READER, OTHER):
        ask(EXPORT, REMOTE_ADDR=address)
    own = ask(ADD, REMOTE_ADDR=ATTACKER).json()["id"]
    for _ in range(5):  # one visitor asking again and replaying it: still one visitor
        ask(ADD, REMOTE_ADDR=ATTACKER)
    _hits(ask, [{"id": own}] * 50, ATTACKER)
    top = stats.top_questions(since=timezone.now() - timedelta(hours=1))
    assert [(row["question"], row["n"]) for row in top] == [
        ("how do i export invoices", 2),
        ("how do i add a new customer", 1),
    ]


def test_forged_hits_change_neither_the_statistics_nor_the_prefetch(ask, ollama, settings):
    """10,000 hits of a spam question from one client, as measured against the first version:
    200 requests of 50 hits with made-up ids, a real reader's id, and the attacker's own."""
    for address in (READER, OTHER):
        ask(EXPORT, REMOTE_ADDR=address)
    reader_id = ask(ADD, REMOTE_ADDR=READER).json()["id"]
    # The attacker asks the spam question once for real (no doc covers it) to get an id.
    own = ask({"question": SPAM, "path": "/"}, REMOTE_ADDR=ATTACKER).json()
    assert own["covered"] is False
    since = timezone.now() - timedelta(hours=1)
    top_before = stats.top_questions(since=since)
    sections_before = stats.top_questions_by_section(since=since, limit=20)

    forged = [{"id": str(uuid.uuid4()), "path": "/", "question": SPAM} for _ in range(48)]
    batch = [*forged, {"id": reader_id, "question": SPAM}, {"id": own["id"], "question": SPAM}]
    statuses = [_hits(ask, batch, ATTACKER).status_code for _ in range(200)]
    assert statuses.count(204) == 12 and statuses.count(429) == 188  # HELP_HITS_RATE_LIMIT

    assert stats.top_questions(since=since) == top_before
    assert stats.top_questions_by_section(since=since, limit=20) == sections_before
    cache.clear()  # the readers' answers are cached: the prefetch must ask the model again
    ollama.reset()
    assert tasks.prefetch_common_questions.apply().get()["answered"] == 2
    asked = {body["messages"][-1]["content"] for body in ollama.chat_bodies}
    assert len(asked) == 2 and not any("pills" in prompt for prompt in asked)


def test_prefetch_never_sends_a_question_no_doc_covers(ollama):
    for i in range(3):
        log_row(
            question="what is the meaning of life",
            status="not_covered",
            doc_matched=False,
            visitor=f"v{i}",
        )
    log_row(question="how do i export invoices", path="/invoices/", doc_matched=True, visitor="v0")
    assert tasks.prefetch_common_questions.apply().get()["answered"] == 1
    assert ollama.chat_calls == 1
    assert "export invoices" in ollama.chat_bodies[0]["messages"][-1]["content"]
