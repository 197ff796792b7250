"""The statistics page at a million query-log rows on PostgreSQL, read from the log alone and
from the daily rollups, side by side; the percentiles read from the rollups' histograms
against PostgreSQL's exact percentile_cont; the query-log admin list.

Run by `make bench` (after django.setup() on the bench database), or alone:
`python -m bench.stats` with DATABASE_URL naming a PostgreSQL database (BENCH_STATS_ROWS to
change the size).
"""

import os
import statistics
import time

# 30 days of a log, in the order it was written: lognormal latencies around 0.4 s (a few
# of them tens of seconds), a Zipf-like spread of 3,000 questions asked by 20,000 visitors,
# the usual mix of backends, cache levels and statuses, a few guarded and down-voted answers.
GENERATE = """
INSERT INTO assistant_querylog (
    id, created, path, question, audience, backend, model, cache_level, status, latency_ms,
    ttft_ms, prompt_chars, tokens_in, tokens_out, doc_ids, top_doc_id, doc_matched,
    guard_removed, guard_kinds, helpful, visitor, resolved, follow_up, sections)
SELECT gen_random_uuid(),
       g.created,
       '/invoices/',
       'question ' || floor(power(random(), 3) * 3000)::int,
       'public',
       (ARRAY['ollama', 'ollama', 'embedded', 'docs'])[1 + floor(random() * 4)::int],
       '',
       (ARRAY['none', 'none', 'none', 'server', 'single_flight', 'widget'])
           [1 + floor(random() * 6)::int],
       (ARRAY['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'fallback', 'not_covered', 'error',
              'rate_limited'])[1 + floor(random() * 10)::int],
       exp(6 + 1.1 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())),
       CASE WHEN random() < 0.8
            THEN exp(5 + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) END,
       900, 300, 80, '[]'::jsonb, NULL, random() > 0.15,
       g.removed, CASE WHEN g.removed > 0 THEN '{"link": 1}'::jsonb ELSE '{}'::jsonb END,
       CASE WHEN random() < 0.01 THEN false END,
       'visitor ' || floor(random() * 20000)::int,
       '', random() < 0.1, '[]'::jsonb
FROM (SELECT now() - random() * interval '30 days' AS created,
             CASE WHEN random() < 0.05 THEN 1 ELSE 0 END AS removed
      FROM generate_series(1, %s)) AS g
ORDER BY g.created  -- the order the log writer inserts them in
"""


def _best_ms(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times) if runs < 3 else statistics.median(times)


def run(rows: int | None = None) -> dict:
    """Generate the log (replacing any), measure, and return the figures."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from assistant.models import CacheLevel, QueryLog, QueryRollup, QuestionRollup, RolledDay
    from assistant.querylog import histogram, rollups
    from assistant.querylog import stats as page_stats

    if connection.vendor != "postgresql":
        return {"skipped": "needs PostgreSQL"}
    rows = rows or int(os.environ.get("BENCH_STATS_ROWS", "1000000"))
    for model in (QueryRollup, QuestionRollup, RolledDay):
        model.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE assistant_querylog")
        t = time.perf_counter()
        cursor.execute(GENERATE, [rows])
        # What autovacuum does after such an insert (index-only scans need it).
        cursor.execute("VACUUM ANALYZE assistant_querylog")
        generate_s = time.perf_counter() - t

    now = timezone.now()
    windows = {name: page_stats.window(name, now)[1] for name in page_stats.WINDOWS}

    def page(since) -> dict:
        return page_stats.latency_stats(since=since, until=now)

    live = {name: _best_ms(lambda s=since: page(s), runs=2) for name, since in windows.items()}
    t = time.perf_counter()
    rolled_up = rollups.roll_up()
    roll_up_s = time.perf_counter() - t
    rolled = {name: _best_ms(lambda s=since: page(s)) for name, since in windows.items()}

    # The whole admin page (template and chart included), as staff see it.
    user = get_user_model().objects.filter(username="bench-staff").first()
    user = user or get_user_model().objects.create_superuser("bench-staff", password="x")
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client()
        client.force_login(user)

        def get(url: str, **query) -> None:
            assert client.get(url, query).status_code == 200

        page_30d = _best_ms(lambda: get("/admin/assistant/querylog/stats/", window="30d"))
        admin_list = _best_ms(lambda: get("/admin/assistant/querylog/"))
        admin_filtered = _best_ms(lambda: get("/admin/assistant/querylog/", status="error"))

    # Percentiles of the 30-day page against PostgreSQL's exact ones over the same rows.
    since = windows["30d"]
    timed = QueryLog.objects.filter(
        created__gte=since, created__lt=now, status__in=page_stats.ANSWERED
    ).exclude(cache_level=CacheLevel.WIDGET)
    t = time.perf_counter()
    exact = page_stats.percentiles(timed, "latency_ms", "ttft_ms")[0]
    exact_ms = (time.perf_counter() - t) * 1000
    read = page(since)["overall"]
    errors = {}
    for name, value in exact.items():
        if name != "n":
            errors[name] = (abs(read[name] - value), histogram.width_at(value), value)
    return {
        "rows": rows,
        "generate_s": generate_s,
        "live_ms": live,
        "rolled_ms": rolled,
        "roll_up_s": roll_up_s,
        "rolled_up": rolled_up,
        "rollup_rows": QueryRollup.objects.count() + QuestionRollup.objects.count(),
        "page_30d_ms": page_30d,
        "admin_list_ms": admin_list,
        "admin_filtered_ms": admin_filtered,
        "exact_ms": exact_ms,
        "percentile_errors": errors,
        "within_bucket": all(err <= width for err, width, _ in errors.values()),
    }


def summary(figures: dict) -> str:
    worst = max(figures["percentile_errors"].items(), key=lambda kv: kv[1][0] / kv[1][1])
    name, (err, width, value) = worst
    return (
        f"{figures['rows']:,} rows (generated in {figures['generate_s']:.0f} s); "
        f"rolled up in {figures['roll_up_s']:.1f} s ({figures['rolled_up']['days']} days, "
        f"{figures['rollup_rows']:,} rollup rows)"
        f"; worst percentile {name}: {err:.1f} ms off {value:.0f} ms (bucket {width:.0f} ms)"
    )


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    django.setup()
    result = run()
    for key, value in result.items():
        print(f"{key}: {value}")
