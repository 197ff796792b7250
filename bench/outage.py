"""`python -m bench.outage`: the query log across a database outage, under a steady stream of
questions; and what keeping rows costs the request path and the writer.

The app as in production (gunicorn, 2 uvicorn workers, Redis, the Ollama stand-in, rows
written every 0.2 s), PostgreSQL behind a loopback proxy (tests/tcp_proxy.py) that is cut
for each outage (OUTAGE_SECONDS, "0,10,60": 0 is the control) while OUTAGE_RATE questions a
second (20) arrive, from 5 s before the cut to 10 s after it ends; then, once health counts
no row waiting:
the questions answered, their rows written, the rows dropped (health), the most rows waiting
at once and the memory they held (the workers' RSS growth, and rows × the bytes one row
takes, measured here with tracemalloc). OUTAGE_BOUNDED_PENDING (200) adds a 60 s run with
HELP_LOG_MAX_PENDING that low: the oldest rows dropped and counted.

A database of its own (helpdesk_outage, BENCH_POSTGRES's server) and BENCH_REDIS_URL's
Redis database (14). Prints a table and writes bench/outage_results.md.
"""

import asyncio
import gc
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveGunicorn  # noqa: E402
from tests.ollama_standin import OllamaStandIn  # noqa: E402
from tests.tcp_proxy import TcpProxy  # noqa: E402

ADMIN = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
OUTAGES = [int(s) for s in os.environ.get("OUTAGE_SECONDS", "0,10,60").split(",")]
RATE = float(os.environ.get("OUTAGE_RATE", "20"))
BOUNDED = int(os.environ.get("OUTAGE_BOUNDED_PENDING", "200"))
BEFORE, AFTER = 5.0, 10.0
QUESTIONS = [
    ("How do I create an invoice?", "/invoices/"),
    ("How do I add a new customer?", "/clients/"),
    ("How do I export invoices to CSV?", "/invoices/"),
    ("How do I send a payment reminder?", "/invoices/"),
]
lines: list[str] = []


def say(line: str) -> None:
    lines.append(line)
    print(line, flush=True)


def fresh_database() -> str:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=2) as conn:
        conn.execute("DROP DATABASE IF EXISTS helpdesk_outage WITH (FORCE)")
        conn.execute("CREATE DATABASE helpdesk_outage")
    url = ADMIN.rsplit("/", 1)[0] + "/helpdesk_outage"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS, "SECRET_KEY": "bench"}
    for cmd in (["migrate", "--noinput", "-v0"], ["load_demo_docs"]):
        subprocess.run(
            [sys.executable, "manage.py", *cmd], cwd=ROOT, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return url


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def workers(app: LiveGunicorn) -> list[int]:
    pid = app.proc.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def health(app: LiveGunicorn) -> dict:
    return requests.get(app.url + "/assistant/api/health/", timeout=5).json()["query_log"]


def outage(url: str, seconds: int, max_pending: int | None, standin: OllamaStandIn) -> None:
    """One run: questions at RATE a second, the database cut for `seconds` in the middle."""
    import redis
    from django.db import connections

    from assistant.models import QueryLog

    redis.Redis.from_url(REDIS).flushdb()
    QueryLog.objects.all().delete()
    connections.close_all()
    db = urlparse(url)
    proxy = TcpProxy(db.hostname or "127.0.0.1", db.port or 5432)
    behind = url.replace(f"{db.hostname}:{db.port or 5432}", f"127.0.0.1:{proxy.port}")
    env = {
        "DATABASE_URL": behind,
        "REDIS_URL": REDIS,
        "OLLAMA_URL": standin.url,
        "ASSISTANT_BACKENDS": "ollama,docs",
        "HELP_RATE_LIMIT": "100000/60",
        "HELP_LOG_BATCH_SECONDS": "0.2",
        "WEB_CONCURRENCY": "2",
        "SECRET_KEY": "bench",
        "DEBUG": "0",
    }
    if max_pending is not None:
        env["HELP_LOG_MAX_PENDING"] = str(max_pending)
    app = LiveGunicorn(env)
    asked: list[str] = []
    failed = [0]
    local = threading.local()

    def ask(n: int) -> None:
        if not hasattr(local, "session"):
            local.session = app.session()
        question, path = QUESTIONS[n % len(QUESTIONS)]
        try:
            r = local.session.post(
                app.url + "/assistant/api/help/",
                json={"question": f"{question} ({uuid.uuid4().int % 10**12})", "path": path},
                timeout=10,
            )
            if r.status_code == 200:
                asked.append(r.json()["id"])
                return
        except requests.RequestException:
            pass
        failed[0] += 1

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(ask, range(32)))  # both workers warm (their docs index built)
            warm = set(asked)
            pids = workers(app)
            base_rss = rss_kb(pids)
            peak = {"waiting": 0, "rss": base_rss}
            marks: dict[str, float] = {}
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    waiting = health(app)["waiting"]
                    peak["waiting"] = max(peak["waiting"], waiting)
                    peak["rss"] = max(peak["rss"], rss_kb(pids))
                    if "restored" in marks and not waiting and "caught_up" not in marks:
                        marks["caught_up"] = time.monotonic() - marks["restored"]
                    time.sleep(0.1)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            total = BEFORE + seconds + AFTER
            cut = False
            n = 0
            while (now := time.monotonic() - started) < total:
                if not cut and now >= BEFORE:
                    proxy.cut()
                    cut = True
                if "restored" not in marks and now >= BEFORE + seconds:
                    proxy.restore()
                    marks["restored"] = time.monotonic()
                pool.submit(ask, n)
                n += 1
                time.sleep(max(0.0, started + n / RATE - time.monotonic()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and health(app)["waiting"]:
            time.sleep(0.2)
        time.sleep(1)  # the last batch (0.2 s) of the rows asked after the outage
        stop.set()
        sampler.join()
        report = health(app)
    finally:
        app.stop()
        proxy.close()
    ids = [i for i in asked if i not in warm]
    written = QueryLog.objects.filter(id__in=ids).count()
    bounded = f", HELP_LOG_MAX_PENDING={max_pending}" if max_pending is not None else ""
    say(
        f"| {seconds} s{bounded} | {len(ids)} ({failed[0]} failed) | {written} |"
        f" {report['dropped']} | {len(ids) - written - report['dropped']} |"
        f" {peak['waiting']} | {(peak['rss'] - base_rss) / 1024:.1f} MB |"
        f" {peak['waiting'] * ROW_BYTES / 1024 / 1024:.1f} MB |"
        f" {marks.get('caught_up', float('nan')):.1f} s |"
    )


def row_bytes() -> int:
    """What one waiting row holds in a worker's queue (the row, its index entry), built as
    records.record_outcome builds it."""
    from django.utils import timezone

    from assistant.models import QueryLog

    def row(i: int) -> QueryLog:
        return QueryLog(
            id=uuid.uuid4(),
            created=timezone.now(),
            path="/invoices/42/edit",
            question=f"how do i send a payment reminder to a client {i}",
            resolved=f"How do I send a payment reminder to a client? {i}",
            audience="public",
            backend="ollama",
            model="qwen2.5:1.5b-instruct",
            status="ok",
            latency_ms=812.5,
            ttft_ms=120.25,
            prompt_chars=1500,
            tokens_in=420,
            tokens_out=96,
            doc_ids=[12, 7, 3],
            sections=[
                {"title": f"Payment reminders › Sending one {k}", "url": "/assistant/docs/r/"}
                for k in range(3)
            ],
            top_doc_id=12,
            doc_matched=True,
            guard_kinds={},
            visitor=uuid.uuid4().hex + uuid.uuid4().hex,
        )

    n = 5000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    queue = [row(i) for i in range(n)]
    index = {str(r.id): r for r in queue}
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del queue, index
    return used // n


def costs() -> None:
    """The request path's share of logging, and the writer's insert, per row (median of
    rounds, alternating)."""
    from django.core.cache import cache

    from assistant.models import QueryLog
    from assistant.querylog import log_writer

    def rows(n: int) -> list[QueryLog]:
        return [
            QueryLog(question=f"bench {i}", created=datetime.now(UTC), audience="public",
                     status="ok", latency_ms=1.0, doc_ids=[1, 2], visitor="v" * 64)
            for i in range(n)
        ]  # fmt: skip

    # The share: one Redis SET per answer, from the event loop, awaited before `done`.
    async def shares(n: int) -> tuple[float, float]:
        batch = rows(n)
        wall, cpu = time.perf_counter(), time.process_time()
        for r in batch:
            await log_writer.ashare([r])
        return (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000

    measured = [asyncio.run(shares(500)) for _ in range(5)]
    cache.clear()
    say(
        "- Request path, per answer: its record shared (one Redis SET from the event loop)"
        f" adds {statistics.median(w for w, _ in measured):.3f} ms before `done`, of which"
        f" {statistics.median(c for _, c in measured):.3f} ms CPU (queueing the row, as"
        " before, does no I/O)."
    )

    # The writer, per row: the INSERT as before, ON CONFLICT DO NOTHING, and the whole write
    # now (… plus the cache: shared records removed, kept votes read).
    timings: dict[str, list[float]] = {"before": [], "on_conflict": [], "writer": []}
    for i in range(6):
        order = ["before", "on_conflict", "writer"]
        for kind in order if i % 2 else reversed(order):
            batch = rows(300)
            started = time.perf_counter()
            if kind == "before":
                QueryLog.objects.bulk_create(batch)
            elif kind == "on_conflict":
                QueryLog.objects.bulk_create(batch, ignore_conflicts=True)
            else:
                log_writer._insert(batch)
                log_writer._after_written(batch)
            timings[kind].append((time.perf_counter() - started) / 300 * 1000)
            QueryLog.objects.filter(question__startswith="bench ").delete()
    b, c, w = (statistics.median(timings[k]) for k in ("before", "on_conflict", "writer"))
    say(
        f"- Writer thread, per row in a batch of 300 (make bench row 8's measure): {b:.3f} ms"
        f" the plain INSERT (before), {c:.3f} ms ON CONFLICT DO NOTHING, {w:.3f} ms the"
        " writer's whole write (with its Redis MGET and DEL)."
    )


ROW_BYTES = 0


def main() -> None:
    global ROW_BYTES
    url = fresh_database()
    os.environ.update({"DATABASE_URL": url, "REDIS_URL": REDIS, "SECRET_KEY": "bench"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    ROW_BYTES = row_bytes()
    say(
        f"# python -m bench.outage — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"{os.cpu_count()} cores; PostgreSQL behind a proxy cut for each outage; {RATE:g}"
        f" questions a second from {BEFORE:g} s before to {AFTER:g} s after; 2 workers; one"
        f" waiting row holds {ROW_BYTES} bytes (tracemalloc).\n"
    )
    costs()
    say(
        "\n| outage | answered | rows written | dropped | lost uncounted | most waiting |"
        " workers' RSS growth (all causes) | rows × bytes | none waiting, after the end |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    standin = OllamaStandIn().start()
    try:
        for seconds in OUTAGES:
            outage(url, seconds, None, standin)
        if BOUNDED:
            outage(url, max(OUTAGES), BOUNDED, standin)
    finally:
        standin.close()
    (ROOT / "bench" / "outage_results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
