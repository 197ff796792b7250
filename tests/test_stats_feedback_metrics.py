"""Query logs, statistics, feedback, widget hits and Prometheus metrics."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from assistant.models import CacheLevel, QueryLog, QueryStatus
from assistant.querylog import stats
from tests.conftest import log_row, sse_events
from tests.ollama_standin import EXPORT_TOKENS

pytestmark = pytest.mark.django_db


@pytest.fixture
def hundred(db):
    QueryLog.objects.all().delete()
    for i in range(1, 101):
        log_row(
            latency_ms=float(i),
            ttft_ms=float(i) / 10,
            backend="ollama" if i % 2 else "docs",
            visitor=f"visitor {i}",
        )


EXPECTED = {"latency_ms_p50": 50.5, "latency_ms_p95": 95.05, "latency_ms_p99": 99.01}


def _check(row):
    assert row["n"] == 100
    for name, value in EXPECTED.items():
        assert row[name] == pytest.approx(value)


def test_percentiles_of_1_to_100_in_this_database(hundred):
    _check(stats.percentiles(QueryLog.objects.all(), "latency_ms")[0])


def test_percentiles_of_1_to_100_computed_in_python(hundred, monkeypatch):
    """The SQLite path, on whatever database runs the suite."""
    monkeypatch.setattr(stats, "connection", type("C", (), {"vendor": "sqlite"})())
    _check(stats.percentiles(QueryLog.objects.all(), "latency_ms")[0])
    rows = stats.percentiles(QueryLog.objects.all(), "latency_ms", group_by=("backend",))
    assert [r["backend"] for r in rows] == ["docs", "ollama"]
    assert rows[0]["latency_ms_p50"] == pytest.approx(51.0)  # 2, 4, …, 100


# Worked by hand: docs has 2, 4, …, 100 and ollama 1, 3, …, 99 (rank = p × 49).
GROUPED = {
    "docs": {"latency_ms_p50": 51.0, "latency_ms_p95": 95.1, "latency_ms_p99": 99.02},
    "ollama": {"latency_ms_p50": 50.0, "latency_ms_p95": 94.1, "latency_ms_p99": 98.02},
}


def test_grouped_percentiles_in_this_database_and_in_python(hundred, monkeypatch):
    """PostgreSQL's percentile_cont (CI's first pass) or the Python definition (SQLite) against
    values worked by hand, and the two definitions against each other."""
    db_rows = stats.percentiles(QueryLog.objects.all(), "latency_ms", group_by=("backend",))
    for row in db_rows:
        assert {k: row[k] for k in EXPECTED} == pytest.approx(GROUPED[row["backend"]])
    monkeypatch.setattr(stats, "connection", type("C", (), {"vendor": "sqlite"})())
    py_rows = stats.percentiles(QueryLog.objects.all(), "latency_ms", group_by=("backend",))
    assert [r["backend"] for r in db_rows] == [r["backend"] for r in py_rows]
    for a, b in zip(db_rows, py_rows, strict=True):
        for name in EXPECTED:
            assert a[name] == pytest.approx(b[name])


def test_latency_stats_rates_and_questions(hundred):
    log_row(status=QueryStatus.RATE_LIMITED, question="too many")
    log_row(status=QueryStatus.ERROR, question="broke")
    log_row(cache_level=CacheLevel.SERVER, latency_ms=1, question="cached one")
    log_row(doc_matched=False, question="weather tomorrow", latency_ms=3)
    log_row(created=timezone.now() - timedelta(days=3), question="old", latency_ms=9)
    s = stats.latency_stats(since=timezone.now() - timedelta(hours=24))
    assert s["total"] == 104
    assert s["rate_limited"] == 1
    assert s["error_rate"] == pytest.approx(1 / 104, abs=1e-4)
    assert s["cache_rates"]["server"] == pytest.approx(1 / 104, abs=1e-4)
    assert s["top_questions"][0] == {"question": "q", "n": 100}
    assert s["unmatched"] == [{"question": "weather tomorrow", "n": 1}]
    assert "old" not in [q["question"] for q in s["top_questions"]]
    assert {r["backend"] for r in s["per_backend"]} == {"ollama", "docs"}
    assert "<polyline" in stats.latency_chart_svg(s["per_day"])


def test_stats_page_for_staff_only(client, hundred, demo_docs):
    from assistant.models import HelpDoc

    doc = HelpDoc.objects.get(slug="create-client")
    log_row(helpful=False, question="how to add client", top_doc=doc, latency_ms=5)
    url = "/admin/assistant/querylog/stats/"
    assert client.get(url).status_code == 302  # to the admin login
    User = get_user_model()
    client.force_login(User.objects.create_user("u", password="x"))
    assert client.get(url).status_code == 302
    client.force_login(
        User.objects.create_user("s", password="x", is_staff=True, is_superuser=True)
    )
    for window in ("24h", "7d", "30d"):
        r = client.get(url, {"window": window})
        assert r.status_code == 200
        html = r.content.decode()
        assert "Assistant statistics" in html and 'aria-label="Latency per day' in html
        assert '<td class="num">101</td>' in html and "how to add client" in html
        assert f"/admin/assistant/helpdoc/{doc.pk}/change/" in html


def test_the_query_log_list_never_counts_the_wholelog_row(client, hundred, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assistant.querylog import admin_paging

    settings.DEBUG = False
    client.force_login(
        get_user_model().objects.create_user("s", password="x", is_staff=True, is_superuser=True)
    )
    admin_paging.COUNT_CAP, cap = 60, admin_paging.COUNT_CAP
    try:
        for query in ({}, {"backend": "docs"}, {"status": "ok", "cache_level": "none"}):
            with CaptureQueriesContext(connection) as queries:
                r = client.get("/admin/assistant/querylog/", query)
            assert r.status_code == 200
            counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
            assert counts and all("LIMIT 60" in sql for sql in counts), counts
            assert ("50 query logs" if query.get("backend") else "60 query logs") in (
                r.content.decode()
            )
    finally:
        admin_paging.COUNT_CAP = cap


# --- The query log and feedback, through the API -------------------------------------------


def test_each_question_writes_one_log_row(ask, ollama, demo_docs):
    ollama.reset(tokens=list(EXPORT_TOKENS))
    r = ask({"question": "How do I export invoices?", "path": "/invoices/"}, endpoint="help/stream")
    events = sse_events(r.streamed)
    answer_id = events[1][1]["id"]
    row = QueryLog.objects.get(id=answer_id)
    assert row.status == "ok" and row.backend == "ollama" and row.cache_level == "none"
    assert row.question == "how do i export invoices" and row.path == "/invoices/"
    assert row.ttft_ms is not None and row.latency_ms >= row.ttft_ms
    assert row.prompt_chars > 0 and row.tokens_out == len(ollama.tokens) and row.tokens_in == 11
    assert row.top_doc.slug == "export-invoices" and row.doc_matched is True
    again = ask({"question": "how do i export invoices", "path": "/invoices/"}).json()
    assert QueryLog.objects.get(id=again["id"]).cache_level == "server"


def test_rate_limited_questions_are_logged(ask, ollama, settings):
    settings.HELP_RATE_LIMIT = "1/60"
    ask({"question": "add a client"})
    assert ask({"question": "export invoices"}).status_code == 429
    assert QueryLog.objects.filter(status="rate_limited", question="export invoices").count() == 1


def test_feedback_flow_and_errors(ask, demo_docs):
    answer_id = ask({"question": "export invoices", "path": "/invoices/"}).json()["id"]
    r = ask({"id": answer_id, "helpful": False}, endpoint="feedback")
    assert r.status_code == 204 and QueryLog.objects.get(id=answer_id).helpful is False
    # one vote per answer per visitor: voting again replaces the vote
    assert ask({"id": answer_id, "helpful": True}, endpoint="feedback").status_code == 204
    assert QueryLog.objects.get(id=answer_id).helpful is True
    for body, status in [
        ({"id": str(uuid.uuid4()), "helpful": True}, 404),
        ({"id": "not-a-uuid", "helpful": True}, 404),
        ({"id": answer_id, "helpful": "yes"}, 400),
        ({"helpful": True}, 400),
        ([], 400),
    ]:
        r = ask(body, endpoint="feedback")
        assert r.status_code == status and "error" in r.json()
    # another visitor cannot vote on this answer
    r = ask({"id": answer_id, "helpful": False}, endpoint="feedback", REMOTE_ADDR="10.9.9.9")
    assert r.status_code == 404


# --- Metrics ----------------------------------------------------------------------------------


def _metric(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_need_staff_or_token(client, settings):
    settings.ASSISTANT_METRICS_TOKEN = "s3cret"
    assert client.get("/assistant/metrics").status_code == 401
    assert client.get("/assistant/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    client.force_login(get_user_model().objects.create_user("u", password="x"))
    assert client.get("/assistant/metrics").status_code == 403


def test_metrics_counters_move_after_a_question(client, ask, ollama, settings):
    settings.ASSISTANT_METRICS_TOKEN = "s3cret"
    auth = {"HTTP_AUTHORIZATION": "Bearer s3cret"}
    before = client.get("/assistant/metrics", **auth).content.decode()
    ask({"question": "How do I add a new client here?", "path": "/"})
    ask({"question": "How do I add a new client here?", "path": "/"})
    after = client.get("/assistant/metrics", **auth)
    assert after.status_code == 200 and after["Content-Type"].startswith("text/plain")
    text = after.content.decode()
    name = "helpdesk_requests_total"
    labels = {"endpoint": "help", "backend": "ollama", "status": "ok"}
    assert _metric(text, name, **labels) == _metric(before, name, **labels) + 2
    hits = "helpdesk_cache_hits_total"
    assert _metric(text, hits, level="server") == _metric(before, hits, level="server") + 1
    assert "helpdesk_ttft_seconds_bucket" in text and "helpdesk_breaker_open" in text


def test_log_rows_are_batched_off_the_request_and_feedback_still_finds_them(ask, settings):
    from assistant.querylog import log_writer

    settings.HELP_LOG_BATCH_SECONDS = 60  # the writer thread will not wake during the test
    answer_id = ask({"question": "export invoices", "path": "/invoices/"}).json()["id"]
    second = ask({"question": "add a client", "path": "/clients/"}).json()["id"]
    assert not QueryLog.objects.filter(id__in=[answer_id, second]).exists()  # still queued
    # A vote on a queued answer writes the batch first.
    assert ask({"id": answer_id, "helpful": True}, endpoint="feedback").status_code == 204
    assert QueryLog.objects.get(id=answer_id).helpful is True
    assert QueryLog.objects.filter(id=second).exists()
    assert log_writer.flush() == 0


def test_a_batch_whose_connection_died_is_written_on_a_new_one(ask, settings, monkeypatch):
    """The writer keeps its connection between batches; when the database has dropped it
    (a restart), the batch goes out on a new one instead of being lost."""
    from django.db import OperationalError, connection

    from assistant.querylog import log_writer

    settings.HELP_LOG_BATCH_SECONDS = 60
    answer_id = ask({"question": "export invoices", "path": "/invoices/"}).json()["id"]
    calls, closed = [], []
    bulk_create = QueryLog.objects.bulk_create

    def dropped_once(rows, **kwargs):
        calls.append(len(rows))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return bulk_create(rows, **kwargs)

    monkeypatch.setattr(QueryLog.objects, "bulk_create", dropped_once)
    monkeypatch.setattr(connection, "close", lambda: closed.append(1))
    assert log_writer.flush() == 1
    assert calls == [1, 1] and closed == [1]
    assert QueryLog.objects.filter(id=answer_id).count() == 1


def test_a_failed_model_call_counts_as_an_upstream_error(ask, ollama, settings):
    from assistant import metrics

    settings.RETRY_BACKOFF_BASE = 0.001
    errors = metrics.UPSTREAM_ERRORS.labels("ollama")
    before = errors._value.get()
    ask({"question": "How do I export invoices?", "path": "/invoices/"})
    assert errors._value.get() == before  # answered: no error
    ollama.reset(mode="error500")
    r = ask({"question": "How do I add a new client?", "path": "/clients/"})
    assert r.json()["backend"] == "docs"  # the fallback answered
    assert errors._value.get() == before + 1
