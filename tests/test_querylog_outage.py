"""The query log through a database outage, in this process: the database behind a loopback
proxy that the tests cut and restore (every thread's connections go through it). The writer's
thread is off here: `log_writer.flush()` is its next tick, so nothing waits on a clock.
(tests/test_querylog_outage_live.py: the same under gunicorn.)"""

import atexit
import importlib.util
import uuid

import pytest
from django.db import OperationalError, connection, connections

from assistant import metrics
from assistant.models import CacheLevel, QueryLog
from assistant.querylog import log_writer, records
from tests.conftest import IN_CI, unique_question
from tests.tcp_proxy import TcpProxy

# The writer commits from other connections than a test transaction's.
pytestmark = pytest.mark.django_db(transaction=True)

HEALTH = "/assistant/api/health/"
CREATE = "How do I create an invoice?"
FOLLOW_UP = "and how do I send it?"


def leans_on_the_invoice(resolved: str) -> bool:
    """The follow-up was read with its earlier turn (however answering words it): alone,
    it names no invoice."""
    return resolved != FOLLOW_UP and "invoice" in resolved.lower()


@pytest.fixture(autouse=True)
def writer(monkeypatch):
    monkeypatch.setattr(log_writer, "_start_thread", lambda: None)
    log_writer.reset()
    yield log_writer
    log_writer.reset()


@pytest.fixture
def database(transactional_db):
    """The test database behind a proxy: `database.cut()` is the outage."""
    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        if IN_CI:
            pytest.fail("the outage tests need PostgreSQL under CI")
        pytest.skip("PostgreSQL only")
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    host_port = db["HOST"], db["PORT"]
    connections.close_all()
    db["HOST"], db["PORT"] = "127.0.0.1", proxy.port
    yield proxy
    proxy.close()
    connections.close_all()
    db["HOST"], db["PORT"] = host_port


@pytest.fixture
def other_worker(monkeypatch):
    """A second copy of the writer, as another worker process has: its own queue, the same
    cache and database."""
    spec = importlib.util.spec_from_file_location("other_worker_writer", log_writer.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "_start_thread", lambda: None)
    yield module
    atexit.unregister(module._at_exit)


@pytest.fixture
def written_order(monkeypatch):
    """The ids of the rows each successful insert wrote, in order."""
    order: list[str] = []
    bulk_create = QueryLog.objects.bulk_create

    def recorded(rows, **kwargs):
        result = bulk_create(rows, **kwargs)
        order.extend(str(row.id) for row in rows)
        return result

    monkeypatch.setattr(QueryLog.objects, "bulk_create", recorded)
    return order


def _question(ask, question: str, **body) -> dict:
    r = ask({"question": question, "path": "/invoices/", **body})
    assert r.status_code == 200, r.content
    return r.json()


def _vote(ask, answer_id: str, helpful: bool) -> int:
    return ask({"id": answer_id, "helpful": helpful}, endpoint="feedback").status_code


def _query_log_health(client) -> tuple[str, dict]:
    body = client.get(HEALTH).json()
    return body["status"], body["query_log"]


def _dropped() -> float:
    return metrics.total("helpdesk_querylog_rows_dropped_total", "counter")


@pytest.mark.parametrize("batch_seconds", [60, 0], ids=["batched", "inline"])
def test_through_an_outage_every_row_is_written_once_in_order_and_every_vote_counts(
    ask, client, ollama, database, settings, written_order, batch_seconds
):
    settings.HELP_LOG_BATCH_SECONDS = batch_seconds
    earlier = _question(ask, unique_question("How do I export invoices?"))  # index built
    log_writer.flush()
    dropped = _dropped()
    assert _query_log_health(client) == ("ok", {"waiting": 0, "dropped": dropped})

    database.cut()
    first = _question(ask, CREATE)
    others = [_question(ask, unique_question("How do I send a payment reminder?")) for _ in "ab"]
    # The follow-up finds its earlier turn, which waits to be written.
    follow = _question(ask, FOLLOW_UP, history=[{"question": CREATE, "id": first["id"]}])
    assert leans_on_the_invoice(follow["resolved"])
    assert _vote(ask, first["id"], True) == 204
    assert _vote(ask, others[0]["id"], True) == 204
    assert _vote(ask, others[0]["id"], False) == 204  # changed: the latest counts
    assert _vote(ask, earlier["id"], False) == 204  # written before: kept until it is back
    hits = ask({"hits": [{"id": first["id"]}]}, endpoint="widget-hits")
    assert hits.status_code == 204
    assert log_writer.flush() == 0  # the database still refuses
    # The answers, the follow-up and the replay wait; health says so.
    assert _query_log_health(client) == ("degraded", {"waiting": 5, "dropped": dropped})

    database.restore()
    assert log_writer.flush() == 5
    assert _query_log_health(client) == ("ok", {"waiting": 0, "dropped": dropped})
    answers = [first["id"], others[0]["id"], others[1]["id"], follow["id"]]
    assert [i for i in written_order if i in answers] == answers
    rows = {str(row.id): row for row in QueryLog.objects.filter(id__in=answers)}
    assert len(rows) == 4
    assert [rows[i].helpful for i in answers] == [True, False, None, None]
    assert QueryLog.objects.get(id=earlier["id"]).helpful is False
    assert rows[follow["id"]].follow_up and rows[follow["id"]].resolved == follow["resolved"]
    replays = QueryLog.objects.filter(cache_level=CacheLevel.WIDGET)
    assert [(r.question, r.visitor) for r in replays] == [
        (rows[first["id"]].question, rows[first["id"]].visitor)
    ]
    assert _dropped() == dropped


def test_a_batch_that_committed_before_its_connection_died_is_not_written_twice(
    ask, demo_docs, settings, monkeypatch
):
    """The INSERT committed, then the connection died before its reply: the retry on a new
    connection must not write the rows again, nor fail on them."""
    settings.HELP_LOG_BATCH_SECONDS = 60
    ids = [_question(ask, unique_question("How do I export invoices?"))["id"] for _ in "abc"]
    calls = []
    bulk_create = QueryLog.objects.bulk_create

    def committed_then_lost(rows, **kwargs):
        calls.append(len(rows))
        result = bulk_create(rows, **kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(QueryLog.objects, "bulk_create", committed_then_lost)
    dropped = _dropped()
    assert log_writer.flush() == 3
    assert calls == [3, 3]
    assert QueryLog.objects.filter(id__in=ids).count() == 3
    assert _dropped() == dropped and log_writer.flush() == 0


def test_past_the_bound_the_oldest_waiting_rows_are_dropped_counted_and_logged(
    ask, client, demo_docs, database, settings, caplog
):
    settings.HELP_LOG_BATCH_SECONDS = 60
    settings.HELP_LOG_MAX_PENDING = 2
    _question(ask, unique_question("How do I export invoices?"))
    log_writer.flush()
    dropped = _dropped()

    database.cut()
    ids = [_question(ask, unique_question("How do I export invoices?"))["id"] for _ in "abcd"]
    assert log_writer.flush() == 0
    assert _query_log_health(client)[1] == {"waiting": 2, "dropped": dropped + 2}
    assert "2 waiting rows or votes dropped" in caplog.text

    database.restore()
    assert log_writer.flush() == 2
    assert set(QueryLog.objects.filter(id__in=ids).values_list("id", flat=True)) == set(
        map(uuid.UUID, ids[2:])
    )
    assert _vote(ask, ids[0], True) == 404  # dropped: there is no such answer any more
    assert _vote(ask, ids[3], True) == 204


def test_an_answer_waiting_in_another_worker_is_found_by_this_one(
    ask, demo_docs, settings, monkeypatch, other_worker
):
    """The follow-up, the vote and the replay reach another worker than the one that gave
    the answer, before its batch is written."""
    settings.HELP_LOG_BATCH_SECONDS = 60
    with monkeypatch.context() as m:
        m.setattr(records, "log_writer", other_worker)
        first = _question(ask, CREATE)
    assert not QueryLog.objects.filter(id=first["id"]).exists()

    follow = _question(ask, FOLLOW_UP, history=[{"question": CREATE, "id": first["id"]}])
    assert leans_on_the_invoice(follow["resolved"])
    assert _vote(ask, first["id"], False) == 204
    assert ask({"hits": [{"id": first["id"]}]}, endpoint="widget-hits").status_code == 204
    log_writer.flush()

    assert other_worker.flush() == 1  # the other worker's batch: the vote is applied with it
    row = QueryLog.objects.get(id=first["id"])
    assert row.helpful is False
    assert QueryLog.objects.get(id=follow["id"]).follow_up
    replay = QueryLog.objects.get(cache_level=CacheLevel.WIDGET)
    assert (replay.question, replay.path) == (row.question, row.path)
    # Written, the answer is found in the database: a new vote goes to its row.
    assert _vote(ask, first["id"], True) == 204
    assert QueryLog.objects.get(id=first["id"]).helpful is True


def test_a_vote_on_an_unknown_answer_is_still_a_404(ask, demo_docs):
    assert _vote(ask, "0b7e6a43-9a3c-4b2e-8f0a-5d1c2b3a4f5e", True) == 404


def test_at_exit_what_waits_is_written_and_what_cannot_be_is_counted(
    ask, demo_docs, database, settings, caplog
):
    settings.HELP_LOG_BATCH_SECONDS = 60
    written = _question(ask, unique_question("How do I export invoices?"))["id"]
    log_writer._at_exit()
    assert QueryLog.objects.filter(id=written).exists()

    dropped = _dropped()
    database.cut()
    lost = [_question(ask, unique_question("How do I export invoices?"))["id"] for _ in "ab"]
    log_writer._at_exit()
    assert _dropped() == dropped + 2
    assert "2 rows could not be written before exit" in caplog.text
    database.restore()
    assert not QueryLog.objects.filter(id__in=lost).exists()
