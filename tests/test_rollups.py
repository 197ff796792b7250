"""Daily rollups: the statistics page reads the same figures from them as from the log, the
percentiles stay within one histogram bucket of PostgreSQL's percentile_cont, and a day that
got late rows is rolled up again."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from assistant import tasks
from assistant.models import (
    CacheLevel,
    HelpDoc,
    QueryLog,
    QueryRollup,
    QueryStatus,
    RolledDay,
)
from assistant.querylog import histogram, rollups, stats

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
BACKENDS = ["ollama", "embedded", "docs", ""]
STATUSES = [QueryStatus.OK] * 6 + [
    QueryStatus.FALLBACK,
    QueryStatus.NOT_COVERED,
    QueryStatus.ERROR,
    QueryStatus.RATE_LIMITED,
]
LEVELS = [CacheLevel.NONE] * 4 + [CacheLevel.SERVER, CacheLevel.SINGLE_FLIGHT, CacheLevel.WIDGET]


def _generate(n: int, days: float, seed: int = 7) -> None:
    """`n` varied log rows spread over the `days` before NOW."""
    rng = random.Random(seed)
    doc = HelpDoc.objects.create(title="Exporting invoices", slug="export", body="…")
    rows = []
    for i in range(n):
        status = rng.choice(STATUSES)
        removed = rng.choice([0, 0, 0, 1, 2])
        rows.append(
            QueryLog(
                created=NOW - timedelta(seconds=rng.uniform(0, days * 86400)),
                question=f"question {rng.randint(1, 40)}",
                path="/",
                audience="public",
                backend=rng.choice(BACKENDS),
                cache_level=rng.choice(LEVELS),
                status=status,
                latency_ms=rng.lognormvariate(6, 1.2) if rng.random() > 0.05 else None,
                ttft_ms=rng.lognormvariate(5, 1) if rng.random() > 0.3 else None,
                doc_matched=rng.random() > 0.2,
                coverage=rng.choice(["covered", "covered", "maybe", "none", ""]),
                guard_removed=removed,
                guard_kinds={"link": removed} if removed else {},
                visitor=f"visitor {rng.randint(1, 60)}",
                helpful=rng.choice([None, None, None, True, False]),
                top_doc=doc if rng.random() > 0.3 else None,
            )
        )
    QueryLog.objects.bulk_create(rows)


def _page(days: int) -> dict:
    return stats.latency_stats(since=NOW - timedelta(days=days), until=NOW)


def test_the_page_reads_the_same_from_rollups_as_from_the_log():
    _generate(3000, days=9.5)
    from_log = {days: _page(days) for days in (1, 7, 30)}
    assert not RolledDay.objects.exists()
    today = NOW.replace(hour=0, minute=0)
    assert rollups.roll_up(NOW)["rows"] == QueryLog.objects.filter(created__lt=today).count()
    assert RolledDay.objects.count() == 9 and QueryRollup.objects.exists()
    for days, page in from_log.items():
        assert _page(days) == page, f"{days} days"
    # and what the page read came from the rollups: the log rows of rolled days are gone
    QueryLog.objects.filter(created__lt=NOW - timedelta(days=2)).delete()
    assert _page(30)["total"] == from_log[30]["total"]


def test_a_window_splits_into_rolled_days_and_live_ranges():
    _generate(500, days=5)
    rollups.roll_up(NOW)
    part = rollups.window(NOW - timedelta(days=3), NOW)
    # 17 Nov 15:30 → 20 Nov 15:30: 18 and 19 Nov are whole days; the partial ends are live
    assert [d.day for d in part.rolled] == [18, 19]
    live_days = {r.created.day for r in part.live}
    assert live_days == {17, 20}
    assert (
        part.live.count() + sum(c.n for c in part.cell_rows)
        == QueryLog.objects.filter(created__gte=NOW - timedelta(days=3), created__lt=NOW).count()
    )


def test_late_rows_are_counted_when_the_last_day_is_rolled_up_again():
    _generate(200, days=2)
    rollups.roll_up(NOW)
    yesterday = NOW.replace(hour=0, minute=0) - timedelta(hours=1)
    QueryLog.objects.create(
        created=yesterday, question="late", audience="public", status="ok", latency_ms=5
    )
    assert _page(7)["total"] == 200  # its day was rolled up before it arrived
    assert rollups.roll_up(NOW)["days"] == 1  # the next run rolls the last rolled day again
    assert _page(7)["total"] == 201
    assert sum(r.n for r in QueryRollup.objects.filter(day=yesterday.date())) == (
        QueryLog.objects.filter(
            created__gte=yesterday.replace(hour=0), created__lt=NOW.replace(hour=0, minute=0)
        ).count()
    )


def test_the_rollup_task_runs_from_celery():
    _generate(100, days=3)
    assert tasks.roll_up_query_logs.apply().get()["rows"] > 0
    assert RolledDay.objects.exists()


def test_histogram_percentiles_are_within_one_bucket_of_the_exact_ones():
    """Against PostgreSQL's percentile_cont when the suite runs on PostgreSQL (as in CI)."""
    _generate(4000, days=0.5)
    timed = QueryLog.objects.filter(status__in=stats.ANSWERED).exclude(
        cache_level=CacheLevel.WIDGET
    )
    exact = stats.percentiles(timed, "latency_ms", "ttft_ms")[0]
    page = _page(1)["overall"]
    assert page["n"] == exact["n"] > 1000
    for name, value in exact.items():
        if name != "n":
            assert abs(page[name] - value) <= histogram.width_at(value), name


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0, 1.149, 1.15, 42.0, 999.9, 1e6])
def test_a_value_lands_in_the_bucket_that_holds_it(value):
    i = histogram.index_of(value)
    assert histogram.BOUNDS[i] <= value
    assert i == histogram.SIZE - 1 or value < histogram.BOUNDS[i + 1]
    QueryLog.objects.create(
        created=NOW, question="v", audience="public", status="ok", latency_ms=value
    )
    sql_bucket = QueryLog.objects.annotate(b=histogram.BucketOf("latency_ms")).get().b
    assert sql_bucket == i
