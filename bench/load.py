"""`make bench`, load section: the site while many slow answers stream.

The stand-in Ollama (a process of its own) answers in about 10 s: first token after 1 s, then
60 tokens 150 ms apart. The app runs as in production (gunicorn, 2 uvicorn workers, Redis),
with room for every generation at once (HELP_OLLAMA_PARALLEL high), so every stream stays open
for its whole answer. For 0, 200 and 1000 open streams, measured side by side in one run:
a plain page's and a cache hit's p95 against idle, the streams' first byte p95, how each
stream ended, and the workers' RSS per open stream. The streams open at once (a burst, the
worst case for their first byte); the probe (pages, cache hits, then 20 new questions' first
byte, one after another) runs once every stream is open (its first byte arrived) and must
end before the first stream does.
`python -m bench.load` runs it alone.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LEVELS = tuple(int(n) for n in os.environ.get("BENCH_LOAD_LEVELS", "0,200,1000").split(","))
ANSWER_SECONDS = 1.0 + 60 * 0.15
SAMPLES = 60  # page and cache-hit requests per level
NEW_QUESTIONS = 20  # new questions asked while the streams are open (their first byte)
_EVENT = re.compile(rb"^event: (\w+)$", re.M)


def _percentile(values: list[float], p: float) -> float:
    from assistant.querylog.stats import percentile_cont  # after django.setup()

    return percentile_cont(values, p) or 0.0


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


class StreamClient:
    """Raw HTTP/1.1 on asyncio: a thousand streams cost the bench next to nothing."""

    def __init__(self, url: str, cookie: str, token: str):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.cookie, self.token, self.url = cookie, token, url
        self.opened = 0  # streams whose first byte arrived

    async def first_byte(self, i: int) -> float:
        """A new question's first byte (seconds); the reader then leaves."""
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(self._request(f"How do I add a new client? ({i} {time.time_ns()})"))
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(1)
        elapsed = time.perf_counter() - started
        writer.close()
        return elapsed

    def _request(self, question: str) -> bytes:
        body = json.dumps({"question": question, "path": "/"}).encode()
        head = (
            f"POST /assistant/api/help/stream/ HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-CSRFToken: {self.token}\r\nReferer: {self.url}/\r\nCookie: {self.cookie}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        return head + body

    async def one(self, i: int) -> dict:
        started = time.perf_counter()
        first_byte = None
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self._request(f"How do I add a new client? ({i} {time.time_ns()})"))
            await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw.split(b" ", 2)[1])
            raw = b""
            while chunk := await reader.read(65536):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                    self.opened += 1
                raw += chunk
            writer.close()
        except (OSError, asyncio.IncompleteReadError) as exc:
            return {"first_byte": first_byte, "end": f"failed: {type(exc).__name__}"}
        ended = time.monotonic()
        if status != 200:
            return {"first_byte": first_byte, "end": f"HTTP {status}", "ended": ended}
        kinds = [k.decode() for k in _EVENT.findall(raw)]
        end = kinds[-1] if kinds and kinds[-1] in ("done", "error") else "cut"
        return {"first_byte": first_byte, "end": end, "backend": _backend(raw), "ended": ended}


def _backend(raw: bytes) -> str:
    found = re.search(rb'"backend": "(\w+)"', raw)
    return found.group(1).decode() if found else ""


def _timed(session: requests.Session, method: str, url: str, **kwargs) -> float:
    started = time.perf_counter()
    r = session.request(method, url, timeout=30, **kwargs)
    r.raise_for_status()
    return (time.perf_counter() - started) * 1000


def _probe(app, cached: dict, client: StreamClient) -> dict:
    """A reader browsing meanwhile: plain pages, cache hits, then new questions (their first
    byte), one after another."""
    s = app.session()
    pages = [_timed(s, "GET", app.url + "/") for _ in range(SAMPLES)]
    hits = [
        _timed(s, "POST", app.url + "/assistant/api/help/", json=cached) for _ in range(SAMPLES)
    ]

    async def new_questions() -> list[float]:
        return [await client.first_byte(i) for i in range(NEW_QUESTIONS)]

    firsts = asyncio.run(new_questions())
    return {
        "page_p95": _percentile(pages, 0.95),
        "hit_p95": _percentile(hits, 0.95),
        "new_first_byte_p95": _percentile(firsts, 0.95) * 1000,
    }


def measure(app, streams: int, cached: dict) -> dict:
    """`streams` slow answers opened at once; while they are all open, the probe and RSS."""
    s = app.session()
    client = StreamClient(app.url, f"csrftoken={s.cookies['csrftoken']}", s.cookies["csrftoken"])
    workers = _workers(app.proc.pid)
    idle_rss = sum(_rss_kb(pid) for pid in workers)
    results: list[dict] = []
    loop_done = threading.Event()

    def run_streams() -> None:
        async def all_streams():
            return await asyncio.gather(*(client.one(i) for i in range(streams)))

        results.extend(asyncio.run(all_streams()) if streams else [])
        loop_done.set()

    runner = threading.Thread(target=run_streams, daemon=True)
    runner.start()
    # Measured while every stream is open: once each has its first byte (polled: the bench's
    # own client counts them), after the model's first token (1 s), well before the end.
    started = time.monotonic()
    while client.opened < streams and time.monotonic() - started < ANSWER_SECONDS / 2:
        time.sleep(0.05)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - started)) if streams else 0)
    peak_rss = sum(_rss_kb(pid) for pid in workers)
    probe_from = time.monotonic()
    probe = _probe(app, cached, client)
    probed = time.monotonic()
    loop_done.wait(ANSWER_SECONDS * 6)
    firsts = [r["first_byte"] for r in results if r["first_byte"] is not None]
    ends: dict[str, int] = {}
    for r in results:
        ends[r["end"]] = ends.get(r["end"], 0) + 1
    return {
        **probe,
        "streams": streams,
        "first_byte_p95": _percentile(firsts, 0.95) * 1000 if firsts else 0.0,
        "ends": ends,
        "rss_per_stream_kb": (peak_rss - idle_rss) / streams if streams else 0.0,
        # The probe ran while every stream was open: it ended before the first one did.
        "probe_inside_streams": all(r.get("ended", 0) > probed for r in results),
        "probe_s": (probe_from - started, probed - started),  # after the streams opened
    }


def run(env: dict) -> list[dict]:
    """Every level, on one app and one stand-in."""
    from tests.live_server import LiveGunicorn

    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_standin", "--first-delay", "1.0", "--delay", "0.15",
         "--repeat", "5"],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = standin.stdout.readline().strip()
    app = LiveGunicorn(
        {
            **env,
            "OLLAMA_URL": url,
            "ASSISTANT_BACKENDS": "ollama,docs",
            "HELP_TIMEOUT": "30",
            "HELP_OLLAMA_PARALLEL": "5000",
            "HELP_QUEUE_WAIT": "30",
        }
    )
    try:
        cached = {"question": "How do I export invoices?", "path": "/invoices/"}
        app.session().post(app.url + "/assistant/api/help/", json=cached, timeout=60)
        # Warm up every path a stream takes (imports, pools, first allocations), so RSS
        # growth is counted per stream, not as one-time costs of the first level.
        measure(app, 50, cached)
        return [measure(app, n, cached) for n in LEVELS]
    finally:
        app.stop()
        standin.terminate()
        standin.wait(10)


def main() -> None:
    import django

    from bench.__main__ import database_url, prepare_db, redis_ok

    env = {
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "bench-only-not-secret",
        "HELP_RATE_LIMIT": "0/60",
        "DEBUG": "0",
        "WEB_CONCURRENCY": "2",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
        if redis_ok()
        else "",
    }
    prepare_db(env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    django.setup()
    for level in run(env):
        print(level, flush=True)


if __name__ == "__main__":
    main()
