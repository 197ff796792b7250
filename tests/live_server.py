"""The app under gunicorn on a free loopback port, for the live tests and `make bench`."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Flags known to work here: no sandbox as root, and no background calls to the closed network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def db_url(db_settings: dict) -> str:
    if db_settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db_settings['NAME']}"
    user = db_settings.get("USER") or ""
    host = db_settings.get("HOST") or "127.0.0.1"
    port = db_settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db_settings['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(proc: subprocess.Popen, url: str, seconds: float, log: str) -> None:
    """Until GET `url` answers 200; RuntimeError (the process stopped) if `proc` exits or
    `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    proc.wait(10)
    raise RuntimeError(f"{proc.args[2]} did not start; see {log}")


class LiveGunicorn:
    """The app under gunicorn (uvicorn workers, as in production) on a free loopback port."""

    def __init__(self, env: dict, workers: int = 2):
        self.port = free_port()
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
        wait_until_serving(
            self.proc, self.url + "/assistant/api/health/", 30, ".pytest-gunicorn.log"
        )

    def session(self) -> requests.Session:
        """A client with the CSRF cookie and header the widget would send."""
        s = requests.Session()
        s.get(self.url + "/clients/", timeout=5)
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        s.headers["Referer"] = self.url + "/clients/"
        return s

    def worker_threads(self) -> int:
        """Threads in all of gunicorn's worker processes (the children of its master)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in children.split())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ask_as_you_type(page, url_pattern: str) -> None:
    """Serve the pages matching `url_pattern` to a Playwright page with the widget's live
    mode on (the demo templates leave it off)."""

    def live(route) -> None:
        response = route.fetch()
        body = response.text().replace('data-live="false"', 'data-live="true"')
        route.fulfill(response=response, body=body)

    page.route(re.compile(url_pattern), live)


# --- the widget in a browser page (the `page` fixture) ----------------------------------

def open_widget(page, path="/invoices/"):
    page.goto(page.base + path)
    page.click(".hd-launcher")
    page.wait_for_selector(".hd-input:focus")


def ask_in_widget(page, question):
    page.fill(".hd-input", question)
    page.press(".hd-input", "Enter")


def rendered(tokens) -> str:
    """The answer's text as the widget shows it: **labels** rendered bold."""
    return "".join(tokens).replace("**", "")


def wait_answered(page):
    page.wait_for_selector(".hd-feedback:not([hidden])", timeout=15000)
