"""`make bench`, load section: the site while many slow answers stream.

The stand-in Ollama (a process of its own) answers in about 10 s: first token after 1 s, then
60 tokens 150 ms apart. The app runs as in production (gunicorn, 2 uvicorn workers, Redis),
with room for every generation at once (HELP_OLLAMA_PARALLEL high), so every stream stays open
for its whole answer. For 0, 200, 1000 and 3000 open streams, measured side by side in one
run: a plain page's and a cache hit's p95 against idle, the streams' first byte p95, how each
stream ended, and the workers' RSS per open stream. The streams open at once (a burst, the
worst case for their first byte); the probe (pages, cache hits, then 20 new questions' first
byte, one after another) runs once every stream is open (its first byte arrived) and must
end before the first stream does.

A burst's first byte is measured twice: by this client, and by the app itself (the
helpdesk_first_byte_seconds histogram, from a request's arrival in ASGI: the difference is
the time before the app, in the accept queue). Beside it: each worker's connections (from
/proc, the kernel's count), each process's CPU while the burst opened (the client's too: a
client that saturates would measure itself), and the floor, the same burst on a Django view
that does nothing. BENCH_WORKERS sets gunicorn's workers, BENCH_PROFILE a folder for
py-spy's profile of worker 1 during each burst, GUNICORN_REUSE_PORT=1 a socket per worker.
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
LEVELS = tuple(
    int(n) for n in os.environ.get("BENCH_LOAD_LEVELS", "0,200,1000,3000").split(",")
)
ANSWER_SECONDS = 1.0 + 60 * 0.15
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))  # gunicorn's, as WEB_CONCURRENCY
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


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user and system (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connections(pids: list[int], port: int) -> list[int]:
    """Each worker's established connections on the app's port, from /proc: the kernel's
    count of who accepted what, not the app's."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "01":
                inodes.add(f[9])
    counts = []
    for pid in pids:
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            n += link.startswith("socket:[") and link[8:-1] in inodes
        counts.append(n)
    return counts


class CpuSampler:
    """Each process's CPU, sampled every 0.25 s while a burst opens: the busiest single
    sample per worker shows one worker taking the burst while the others idle."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.start = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last, at = dict(self.start), time.monotonic()
        while not self._stop.wait(0.25):
            now, then = {n: _cpu_seconds(p) for n, p in self.pids.items()}, time.monotonic()
            for name in self.pids:
                self.peak[name] = max(self.peak[name], (now[name] - last[name]) / (then - at))
            last, at = now, then

    def stop(self) -> dict[str, tuple[float, float]]:
        """{name: (CPU seconds used, busiest 0.25 s in cores)}."""
        self._stop.set()
        self._thread.join()
        return {n: (_cpu_seconds(p) - self.start[n], self.peak[n]) for n, p in self.pids.items()}


def server_first_bytes(app, endpoint: str = "stream") -> dict[float, float]:
    """The app's own first-byte histogram (assistant.web.timing): {upper bound: count}."""
    text = requests.get(
        app.url + "/assistant/metrics", headers={"Authorization": "Bearer bench"}, timeout=30
    ).text
    found = re.findall(
        rf'helpdesk_first_byte_seconds_bucket{{endpoint="{endpoint}",le="([^"]+)"}} (\S+)', text
    )
    return {float(le): float(n) for le, n in found}


def histogram_percentile(before: dict, after: dict, p: float) -> float:
    """The p-th percentile (seconds) of what was observed between two readings of a
    cumulative histogram, interpolated within its bucket as Prometheus does."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return 0.0
    rank, lower, below = p * counts[-1], 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1e-9)
        lower, below = bound, cumulative
    return lower


def _unique(question: str, i: int) -> str:
    """A new question each time, ranked as `question` is: one long number matches no figure
    of the docs (a small one such as "5" would rank the doc with "5,000 rows" first)."""
    return f"{question} ({time.time_ns()}{i})"


class StreamClient:
    """Raw HTTP/1.1 on asyncio: a thousand streams cost the bench next to nothing."""

    def __init__(self, url: str, cookie: str, token: str):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.cookie, self.token, self.url = cookie, token, url
        self.opened = 0  # streams whose first byte arrived

    async def first_byte(self, i: int, path: str = "/assistant/api/help/stream/") -> float:
        """A new question's first byte (seconds); the reader then leaves."""
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(self._request(_unique("How do I add a new client?", i), path))
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(1)
        elapsed = time.perf_counter() - started
        writer.close()
        return elapsed

    def _request(self, question: str, path: str = "/assistant/api/help/stream/") -> bytes:
        body = json.dumps({"question": question, "path": "/"}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
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
            writer.write(self._request(_unique("How do I add a new client?", i)))
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


def floor(app, requests_at_once: int) -> dict:
    """The same burst on a Django JSON view that does nothing (the bench's baseline view,
    through the same middleware): what a burst costs this machine before any answering."""
    s = app.session()
    client = StreamClient(app.url, f"csrftoken={s.cookies['csrftoken']}", s.cookies["csrftoken"])
    workers = _workers(app.proc.pid)
    before = sum(_cpu_seconds(pid) for pid in workers)

    async def burst() -> list[float]:
        return await asyncio.gather(
            *(client.first_byte(i, "/bench/noop/") for i in range(requests_at_once))
        )

    firsts = asyncio.run(burst())
    cpu = sum(_cpu_seconds(pid) for pid in workers) - before
    return {
        "first_byte_p95": _percentile(firsts, 0.95) * 1000,
        "cpu_ms": cpu * 1000 / requests_at_once,
    }


PROFILE = os.environ.get("BENCH_PROFILE", "")  # a folder: py-spy on worker 1 per burst


def _profile(pid: int, streams: int) -> subprocess.Popen | None:
    """py-spy sampling worker `pid` (its CPU only: idle stacks left out) while a burst opens,
    collapsed stacks in BENCH_PROFILE/burst-<streams>.txt."""
    if not PROFILE or not streams:
        return None
    Path(PROFILE).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    out = Path(PROFILE) / f"burst-{streams}.txt"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
         "--output", str(out), "--nonblocking", "--threads"],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(app, streams: int, cached: dict) -> dict:
    """`streams` slow answers opened at once; while they are all open, the probe and RSS."""
    s = app.session()
    client = StreamClient(app.url, f"csrftoken={s.cookies['csrftoken']}", s.cookies["csrftoken"])
    workers = _workers(app.proc.pid)
    idle_rss = sum(_rss_kb(pid) for pid in workers)
    results: list[dict] = []
    server_before = server_first_bytes(app)
    cpu = CpuSampler(
        {"bench client": os.getpid(), "stand-in": app.standin_pid}
        | {f"worker {i + 1}": pid for i, pid in enumerate(workers)}
    )
    profiler = _profile(workers[0], streams)
    loop_done = threading.Event()

    def run_streams() -> None:
        async def all_streams():
            return await asyncio.gather(*(client.one(i) for i in range(streams)))

        results.extend(asyncio.run(all_streams()) if streams else [])
        loop_done.set()

    runner = threading.Thread(target=run_streams, daemon=True)
    runner.start()
    # Measured while every stream is open: once each has its first byte (polled: the bench's
    # own client counts them), after the model's first token (1 s), before the end. (When
    # opening them all takes longer than an answer, the first ones have ended by then: the
    # probe says so.)
    started = time.monotonic()
    while client.opened < streams and time.monotonic() - started < ANSWER_SECONDS * 3:
        time.sleep(0.05)
    opening = cpu.stop()
    if profiler:
        profiler.send_signal(2)  # py-spy writes what it has on SIGINT
        profiler.wait(30)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - started)) if streams else 0)
    peak_rss = sum(_rss_kb(pid) for pid in workers)
    per_worker = _connections(workers, app.port)
    server_after = server_first_bytes(app)
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
        "server_first_byte_p95": histogram_percentile(server_before, server_after, 0.95) * 1000,
        "server_first_bytes": int(
            server_after.get(float("inf"), 0) - server_before.get(float("inf"), 0)
        ),
        "connections_per_worker": per_worker,
        # While the streams opened: {process: (CPU seconds, busiest 0.25 s in cores)}
        "cpu_opening": opening,
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
            "ASSISTANT_METRICS_TOKEN": "bench",
            "HELPDESK_BENCH": "1",  # the baseline view, for the floor
        },
        workers=WORKERS,
    )
    app.standin_pid = standin.pid
    try:
        cached = {"question": "How do I export invoices?", "path": "/invoices/"}
        app.session().post(app.url + "/assistant/api/help/", json=cached, timeout=60)
        # Warm up every path a stream takes (imports, pools, first allocations), so RSS
        # growth is counted per stream, not as one-time costs of the first level.
        measure(app, 50, cached)
        floor(app, 200)
        levels = [measure(app, n, cached) for n in LEVELS]
        for level in levels:  # the floor of each burst, measured in the same run
            if level["streams"]:
                level["floor"] = floor(app, level["streams"])
        return levels
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
