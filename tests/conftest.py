import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command

from assistant import ollama_client, selectors, singleflight
from tests.ollama_standin import OllamaStandIn

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated(settings):
    """Each test starts with an empty cache, closed breakers, fresh pools and a docs-only chain."""
    cache.clear()
    selectors._indexes.clear()
    singleflight._local.clear()
    ollama_client.reset_session()
    settings.ASSISTANT_BACKENDS = ["docs"]
    settings.HELP_RATE_LIMIT = "1000/60"
    yield
    ollama_client.reset_session()


@pytest.fixture(scope="session")
def standin():
    server = OllamaStandIn().start()
    yield server
    server.close()


@pytest.fixture
def ollama(standin, settings):
    """The stand-in, reset, as the only Ollama host, with the docs fallback behind it."""
    standin.reset()
    settings.OLLAMA_URL = standin.url
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    settings.HELP_TIMEOUT = 2
    return standin


@pytest.fixture
def demo_docs(db):
    call_command("load_demo_docs", stdout=open(os.devnull, "w"))


@pytest.fixture
def ask(client):
    """POST a JSON body to an assistant endpoint with the Django test client."""

    def _ask(body, endpoint="help", **extra):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return client.post(
            f"/assistant/api/{endpoint}/", data=data, content_type="application/json", **extra
        )

    return _ask


def sse_events(raw: bytes) -> list[tuple[str, dict | str]]:
    """Parse an event stream: [("comment", text) | (event, data)]."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            out.append(("comment", block[1:].strip()))
            continue
        kind, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        out.append((kind, json.loads(data)))
    return out


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    if not _reachable(url):
        if IN_CI:
            pytest.fail(f"Redis is required under CI and not reachable at {url}")
        pytest.skip("Redis not reachable")
    return url


def _db_url(db_settings: dict) -> str:
    if db_settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db_settings['NAME']}"
    user = db_settings.get("USER") or ""
    host = db_settings.get("HOST") or "127.0.0.1"
    port = db_settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db_settings['NAME']}"


class LiveGunicorn:
    """The app under gunicorn (gthread workers, as in production) on a free loopback port."""

    def __init__(self, env: dict, workers: int = 2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=open(ROOT / ".pytest-gunicorn.log", "ab"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/assistant/api/health/", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start; see .pytest-gunicorn.log")

    def session(self) -> requests.Session:
        """A client with the CSRF cookie and header the widget would send."""
        s = requests.Session()
        s.get(self.url + "/clients/", timeout=5)
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        s.headers["Referer"] = self.url + "/clients/"
        return s

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def live_app(_live_app, redis_url):
    """The live app with a clean slate: empty cache, closed breakers."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return _live_app


@pytest.fixture(scope="module")
def _live_app(django_db_setup, django_db_blocker, standin, redis_url):
    """gunicorn with 2 workers, Redis, the test database (with the demo docs, committed) and
    the stand-in as Ollama."""
    from django.conf import settings as dj

    with django_db_blocker.unblock():
        call_command("load_demo_docs", stdout=open(os.devnull, "w"))

    env = {
        "DATABASE_URL": _db_url(dj.DATABASES["default"]),
        "REDIS_URL": redis_url,
        "OLLAMA_URL": standin.url,
        "ASSISTANT_BACKENDS": "ollama,docs",
        "HELP_RATE_LIMIT": "1000/60",
        "HELP_TIMEOUT": "3",
        "WEB_CONCURRENCY": "2",
        "DEBUG": "0",
    }
    server = LiveGunicorn(env)
    yield server
    server.stop()
