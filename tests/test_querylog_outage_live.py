"""The database cut under the app as it runs in production (gunicorn, 2 uvicorn workers,
Redis, rows written in batches): PostgreSQL behind a loopback proxy the test closes and opens
again, while readers ask, follow up at once, vote and replay answers from the widget."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.utils import timezone

from assistant.models import CacheLevel, QueryLog
from tests.conftest import IN_CI, live_env, sse_events, unique_question
from tests.live_server import LiveGunicorn, db_url
from tests.tcp_proxy import TcpProxy
from tests.test_querylog_outage import FOLLOW_UP, leans_on_the_invoice

pytestmark = pytest.mark.django_db

CREATE = "How do I create an invoice?"
# A cold worker's first question loads its embedding model (seconds, on a busy machine).
WAIT = 30


@pytest.fixture
def app_and_database(live_docs, standin, redis_url):
    """The app, its database behind a proxy: `database.cut()` is the outage."""
    import redis

    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        if IN_CI:
            pytest.fail("the outage tests need PostgreSQL under CI")
        pytest.skip("PostgreSQL only")
    redis.Redis.from_url(redis_url).flushdb()
    standin.reset()
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    behind = db_url({**db, "HOST": "127.0.0.1", "PORT": proxy.port})
    app = LiveGunicorn(
        live_env(standin, redis_url, DATABASE_URL=behind, HELP_LOG_BATCH_SECONDS="0.2")
    )
    yield app, proxy
    proxy.restore()  # the workers write what waits at exit
    app.stop()
    proxy.close()


def _converse(app: LiveGunicorn, s: requests.Session, helpful: bool) -> dict:
    """A question streamed to its `done`, then at once a follow-up, a vote and a replay,
    each on a new connection: to whichever worker takes it."""
    api = app.url + "/assistant/api/"
    s.headers["Connection"] = "close"
    r = s.post(api + "help/stream/", json={"question": CREATE, "path": "/invoices/"}, timeout=WAIT)
    events = dict(e for e in sse_events(r.content) if e[0] in {"meta", "done"})
    answer_id = events["done"]["id"]
    follow = s.post(
        api + "help/",
        json={
            "question": FOLLOW_UP,
            "path": "/invoices/",
            "history": [{"question": CREATE, "id": answer_id}],
        },
        timeout=WAIT,
    )
    vote = s.post(api + "feedback/", json={"id": answer_id, "helpful": helpful}, timeout=WAIT)
    replay = s.post(api + "widget-hits/", json={"hits": [{"id": answer_id}]}, timeout=WAIT)
    return {
        "id": answer_id,
        "helpful": helpful,
        "follow": follow.json(),
        "statuses": (r.status_code, follow.status_code, vote.status_code, replay.status_code),
    }


def _health(app: LiveGunicorn) -> dict:
    return requests.get(app.url + "/assistant/api/health/", timeout=5).json()


def _until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_a_database_outage_under_gunicorn_loses_no_row_and_no_vote(app_and_database):
    app, database = app_and_database
    started = timezone.now()
    sessions = [app.session() for _ in range(12)]  # the pages, before the cut
    with ThreadPoolExecutor(8) as pool:  # both workers answer (their docs index built)
        warm = [
            pool.submit(
                app.session().post,
                app.url + "/assistant/api/help/",
                json={"question": unique_question(CREATE), "path": "/invoices/"},
                headers={"Connection": "close"},  # to either worker
                timeout=WAIT,
            )
            for _ in range(16)
        ]
        assert all(f.result().status_code == 200 for f in warm)
        before = list(pool.map(lambda i: _converse(app, sessions[i], i % 2 == 0), range(4)))

        database.cut()
        during = list(pool.map(lambda i: _converse(app, sessions[4 + i], i % 2 == 1), range(6)))
        for i, c in enumerate(before):  # answers written before: their new votes are kept
            c["helpful"] = not c["helpful"]
            vote = {"id": c["id"], "helpful": c["helpful"]}
            assert (
                sessions[i].post(app.url + "/assistant/api/feedback/", json=vote).status_code == 204
            )
        waiting = _until(
            lambda: _health(app)["query_log"]["waiting"], 10, "health counts the rows waiting"
        )
        assert _health(app)["status"] == "degraded"
        assert waiting >= 1

        database.restore()
        after = list(pool.map(lambda i: _converse(app, sessions[10 + i], True), range(2)))
    conversations = before + during + after
    ids = [c["id"] for c in conversations]
    follow_ids = [c["follow"]["id"] for c in conversations]
    written = QueryLog.objects.filter(created__gte=started)
    expected = len(warm) + 3 * len(conversations)  # the warm-up, each answer, follow-up, replay

    def votes() -> dict[str, bool | None]:
        return {str(k): v for k, v in written.filter(id__in=ids).values_list("id", "helpful")}

    _until(
        lambda: (
            _health(app)["query_log"]["waiting"] == 0
            and _health(app)["status"] == "ok"
            and written.count() >= expected
            and votes() == {c["id"]: c["helpful"] for c in conversations}
        ),
        20,
        "every row and vote written once the database is back",
    )
    assert all(c["statuses"] == (200, 200, 204, 204) for c in conversations), conversations
    # Every follow-up found its earlier turn, whichever worker it reached, written or not.
    assert all(leans_on_the_invoice(c["follow"]["resolved"]) for c in conversations)
    assert written.filter(id__in=follow_ids, follow_up=True).count() == len(follow_ids)
    # Each row once.
    assert written.filter(cache_level=CacheLevel.WIDGET).count() == len(conversations)
    assert written.count() == expected
    assert _health(app)["query_log"]["dropped"] == 0


def test_a_follow_up_sent_the_moment_done_arrives_finds_the_earlier_turn_on_any_worker(
    app_and_database,
):
    """No outage: the rows are written every 0.2 s, and the follow-up, the vote and the replay
    go out at once, each on a new connection, to either worker."""
    app, _ = app_and_database
    sessions = [app.session() for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        conversations = list(pool.map(lambda s: _converse(app, s, True), sessions))
    assert all(c["statuses"] == (200, 200, 204, 204) for c in conversations), conversations
    assert all(leans_on_the_invoice(c["follow"]["resolved"]) for c in conversations)
    ids = [c["id"] for c in conversations]
    _until(
        lambda: QueryLog.objects.filter(id__in=ids, helpful=True).count() == len(ids),
        10,
        "every vote applied once its row is written",
    )
