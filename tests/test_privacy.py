"""The query log keeps no personal data it doesn't need: visitor ids that can't be reversed,
what readers type redacted before anything is written, and a reader's rights."""

import hashlib
import importlib
import io
import ipaddress
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from assistant import metrics
from assistant.models import QueryLog, QuestionRollup
from assistant.querylog import rollups
from assistant.web import visitors
from tests.conftest import log_row

pytestmark = pytest.mark.django_db

RANGE = ipaddress.ip_network("10.0.0.0/24")


def _ask(ask, question: str, ip: str = "10.0.0.77", **body) -> dict:
    r = ask({"question": question, "path": "/invoices/", **body}, REMOTE_ADDR=ip)
    assert r.status_code == 200, r.content
    return r.json()


def _unkeyed(ip: str) -> str:
    """The ids the log kept before: sha256 of the address, no key."""
    return hashlib.sha256(f"ip:{ip}".encode()).hexdigest()[:32]


def test_the_old_ids_reverse_by_brute_force_the_new_ones_do_not(ask, demo_docs, settings):
    answer = _ask(ask, "How do I export invoices?")
    stored = QueryLog.objects.get(id=answer["id"]).visitor
    # Today's ids of the old scheme: a table of every address of the range reverses them.
    table = {_unkeyed(str(ip)): str(ip) for ip in RANGE}
    assert table[_unkeyed("10.0.0.77")] == "10.0.0.77"
    # The id kept now: no unkeyed hash, nor one keyed with the deployment's secret alone.
    guesses = {_unkeyed(str(ip)) for ip in RANGE}
    for key in (b"", settings.SECRET_KEY.encode(), visitors._secret("user")):
        guesses |= {visitors._hash(key, f"ip:{ip}") for ip in RANGE}
    assert stored not in guesses
    assert "10.0.0.77" not in json.dumps(list(QueryLog.objects.values()), default=str)


class _Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock(monkeypatch):
    held = _Clock(datetime(2026, 3, 14, 23, 59, 58, tzinfo=UTC))
    monkeypatch.setattr(visitors, "now", held)
    return held


def test_at_midnight_the_key_changes_and_votes_hits_turns_and_limits_still_work(
    ask, demo_docs, clock, settings
):
    settings.HELP_RATE_LIMIT = "3/60"  # the window itself is held by the suite
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    settings.OLLAMA_URL = "http://127.0.0.1:9"  # the docs answer, after one model try
    settings.OLLAMA_CONNECT_TIMEOUT = 0.2
    before = _ask(ask, "How do I create an invoice?")
    clock.moment += timedelta(seconds=4)  # 00:00:02, the next day
    after = _ask(ask, "How do I export invoices?")
    rows = {str(k): v for k, v in QueryLog.objects.in_bulk([before["id"], after["id"]]).items()}
    assert rows[before["id"]].visitor != rows[after["id"]].visitor  # days can't be linked
    # The answer given before midnight is still this reader's: a vote, a widget hit, a turn.
    assert ask({"id": before["id"], "helpful": True}, endpoint="feedback",
               REMOTE_ADDR="10.0.0.77").status_code == 204  # fmt: skip
    assert ask({"hits": [{"id": before["id"]}]}, endpoint="widget-hits",
               REMOTE_ADDR="10.0.0.77").status_code == 204  # fmt: skip
    assert QueryLog.objects.filter(cache_level="widget").count() == 1
    follow = _ask(
        ask,
        "and how do I send it?",
        history=[{"question": "How do I create an invoice?", "id": before["id"]}],
    )
    assert follow["resolved"] == "How do I send an invoice?"
    # The rate limit counted across midnight: the fourth model call is refused.
    assert ask({"question": "Can I save an invoice as a draft?", "path": "/invoices/"},
               REMOTE_ADDR="10.0.0.77").status_code == 429  # fmt: skip
    # Another reader is another visitor, on either day.
    other = _ask(ask, "How do I export invoices to PDF?", ip="10.0.0.78")
    assert QueryLog.objects.get(id=other["id"]).visitor not in {r.visitor for r in rows.values()}


def test_distinct_visitors_per_day_count_right_across_the_key_change(ask, demo_docs, clock):
    day_one = clock.moment.date()
    asked = [_ask(ask, "How do I export invoices?", ip=ip)["id"] for ip in
             ("10.0.0.1", "10.0.0.2", "10.0.0.1")]  # fmt: skip
    QueryLog.objects.filter(id__in=asked).update(created=clock.moment)
    clock.moment += timedelta(seconds=4)
    later = _ask(ask, "How do I export invoices?", ip="10.0.0.1")["id"]
    QueryLog.objects.filter(id=later).update(created=clock.moment)
    for day in (day_one, day_one + timedelta(days=1)):
        rollups.roll_up_day(day)
    counted = dict(QuestionRollup.objects.values_list("day", "visitors"))
    assert counted == {day_one: 2, day_one + timedelta(days=1): 1}


def test_a_days_key_is_dropped_and_its_ids_cannot_be_remade(ask, demo_docs, clock):
    from django.core.cache import cache

    answer = _ask(ask, "How do I export invoices?")
    stored = QueryLog.objects.get(id=answer["id"]).visitor
    day = clock.moment.date()
    assert visitors._hash(visitors.day_key(day), "ip:10.0.0.77") == stored
    cache.delete(visitors.DAY_KEY.format(day=day.isoformat()))  # its time is up
    clock.moment += timedelta(days=2)
    assert visitors.day_key(day) is None  # a past day's key is never made again
    assert stored not in visitors.visitor_of(None, "10.0.0.77").ids


# (kind, question, what of it the log and the page must not hold, the whole of it)
REDACTIONS = [
    ("email", "My email is jane.doe@example.com, how do I export invoices?", "jane",
     "jane.doe@example.com"),
    ("phone", "Call me on +33 6 12 34 56 78 about exporting invoices", "12 34",
     "+33 6 12 34 56 78"),
    ("iban", "Refund to FR76 3000 6000 0112 3456 7890 189 for my invoices", "3000",
     "FR76 3000 6000 0112 3456 7890 189"),
    ("card", "My card 4111 1111 1111 1111 was charged for invoices", "4111",
     "4111 1111 1111 1111"),
    ("number", "Invoice 20240042871 is missing from my invoices", "20240042871",
     "20240042871"),
]  # fmt: skip


@pytest.mark.parametrize(
    "kind,question,secret,whole", REDACTIONS, ids=[r[0] for r in REDACTIONS]
)
def test_personal_data_is_redacted_in_the_log_rollups_statistics_and_metrics(
    ask, demo_docs, admin_client, kind, question, secret, whole
):
    body = _ask(ask, question)
    assert body["resolved"] == question  # the reader's own answer is unchanged
    row = QueryLog.objects.get(id=body["id"])
    assert f"[{kind}]" in row.question and secret not in row.question
    assert f"[{kind}]" in row.resolved and secret not in row.resolved
    rollups.roll_up_day(timezone.localdate())
    rolled = QuestionRollup.objects.get(question=row.question)
    assert f"[{kind}]" in rolled.question
    page = admin_client.get("/admin/assistant/querylog/stats/").content.decode()
    assert f"[{kind}]" in page and secret not in page
    text, _ = metrics.render()
    assert whole not in text.decode() and f"[{kind}]" not in text.decode()


def test_the_guard_and_the_log_share_one_set_of_detectors():
    from assistant import detectors
    from assistant.answering import grounding

    assert grounding._EMAIL is detectors.EMAIL and grounding._PHONE is detectors.PHONE


def test_a_number_that_fails_the_luhn_check_is_no_card():
    from assistant.detectors import luhn_valid, redact

    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111 1111 1111 1112")
    assert "[card]" not in redact("ref 4111 1111 1111 1112")


def _signed_in(client, name: str):
    user = get_user_model().objects.create_user(name, email=f"{name}@example.org", password="x")
    client.force_login(user)
    return user


def test_deleting_a_user_deletes_their_questions_and_votes(ask, client, demo_docs):
    ann = _signed_in(client, "ann")
    mine = _ask(ask, "How do I export invoices?")
    assert ask({"id": mine["id"], "helpful": False}, endpoint="feedback",
               REMOTE_ADDR="10.0.0.77").status_code == 204  # fmt: skip
    client.logout()
    theirs = _ask(ask, "How do I export invoices?", ip="10.0.0.9")
    ann.delete()
    assert not QueryLog.objects.filter(id=mine["id"]).exists()
    assert QueryLog.objects.filter(id=theirs["id"]).exists()


def test_export_visitor_data_writes_a_users_questions(ask, client, demo_docs, tmp_path):
    ann = _signed_in(client, "ann")
    _ask(ask, "My email is ann@example.org: how do I export invoices?")
    client.logout()
    _ask(ask, "How do I create an invoice?", ip="10.0.0.9")  # someone else's
    out = io.StringIO()
    call_command("export_visitor_data", "ann", stdout=out)
    data = json.loads(out.getvalue())
    assert data["user"] == "ann"
    assert [q["question"] for q in data["questions"]] == [
        "my email is [email] how do i export invoices"
    ]
    target = tmp_path / "ann.json"
    call_command("export_visitor_data", ann.email, "--output", str(target), stdout=io.StringIO())
    assert json.loads(target.read_text())["questions"] == data["questions"]


def test_the_migration_rekeys_old_ids_and_redacts_old_questions():
    migration = importlib.import_module("assistant.migrations.0006_rekey_and_redact")
    for ip, question in (("10.0.0.5", "call me on 06 12 34 56 78"), ("10.0.0.5", "q"),
                         ("10.0.0.6", "q")):  # fmt: skip
        log_row(visitor=_unkeyed(ip), question=question)
    migration.rekey_and_redact(apps, None)
    ids = list(QueryLog.objects.values_list("visitor", flat=True))
    assert len(set(ids)) == 2  # still two readers
    table = {_unkeyed(str(ip)) for ip in RANGE}
    assert not table & set(ids)
    assert set(QueryLog.objects.values_list("question", flat=True)) == {"call me on [phone]", "q"}
