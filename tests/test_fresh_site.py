"""The integration contract (docs/integration.md) on a site nobody here wrote: the package is
built as a wheel and installed (not editable) into a new virtualenv, `django-admin
startproject` makes a site, only the contract's four steps are applied, and everything is
checked through HTTP against `runserver` (WSGI, no Redis, no Celery, no model server)."""

import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCES = (".git", ".venv", "node_modules", ".eval", "build", "site", "*.egg-info",
               "__pycache__", "*.sqlite3", ".pytest*", "staticfiles", ".env", "bench", "tests")

# The host's own page: a template of its own with the tag (contract step 3). A fresh
# startproject site has no page at all, so this one is served from a string.
PAGE_VIEW = '''

from django.template import engines
from django.http import HttpResponse
from django.urls import include


def page(request):
    template = engines["django"].from_string(
        "<!doctype html><html><head><title>Fresh</title></head><body><h1>Orders</h1>"
        "{% load help_widget %}{% help_widget %}</body></html>"
    )
    return HttpResponse(template.render(request=request))


urlpatterns += [
    path("", page),
    path("assistant/", include("assistant.urls")),  # contract step 2
]
'''

DOC = """---
title: Refunding an order
slug: refund-an-order
---
# Refunding an order

To refund an order, open **Orders**, choose the order and click **Refund**. The money
reaches the customer within five days.
"""


def _run(args, cwd, env, timeout=120):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fresh_site(tmp_path_factory):
    """A startproject site with the wheel installed and the contract applied, migrated, with
    a superuser and a doc of its own; yields (base URL, folder, env)."""
    tmp = tmp_path_factory.mktemp("fresh")
    # Built from a copy: setuptools' build/ folder in the checkout may hold files of an
    # earlier build, which would hide a file the package no longer carries.
    shutil.copytree(ROOT, tmp / "src", ignore=shutil.ignore_patterns(*NOT_SOURCES))
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp / "dist"), str(tmp / "src")],
        cwd=tmp, env=os.environ, timeout=300,
    )
    wheel = next((tmp / "dist").glob("helpdesk-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=os.environ)
    python = venv / "bin" / "python"
    # Offline and fast: the dependencies are this checkout's virtualenv's, seen through a
    # path line (not its .pth files: its editable install of this checkout stays out).
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site_packages / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)],
        cwd=tmp, env=os.environ,
    )
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "HELP", "OLLAMA", "OPENAI", "ASSISTANT", "CELERY"))
        and k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "PYTHONPATH")
    }
    site = tmp / "site"
    site.mkdir()
    _run([python, "-m", "django", "startproject", "fresh", str(site)], cwd=tmp, env=env)
    where = _run(
        [python, "-c", "import assistant; print(assistant.__file__)"], cwd=site, env=env
    )
    assert str(site_packages) in where, f"the app comes from {where}, not the wheel"

    settings = site / "fresh" / "settings.py"
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["assistant"]\n')  # step 1
    urls = site / "fresh" / "urls.py"
    urls.write_text(urls.read_text() + PAGE_VIEW)  # steps 2 and 3
    manage = [python, "manage.py"]
    _run([*manage, "migrate", "--noinput"], cwd=site, env=env)  # step 4

    checks = _run([*manage, "check", "--deploy"], cwd=site, env=env)
    (site / "help").mkdir()
    (site / "help" / "refunds.md").write_text(DOC)
    imported = _run([*manage, "import_docs", "help"], cwd=site, env=env)
    admin_env = {**env, "DJANGO_SUPERUSER_PASSWORD": "fresh-site-pass-8472"}
    _run(
        [*manage, "createsuperuser", "--noinput", "--username", "admin",
         "--email", "admin@example.com"],
        cwd=site, env=admin_env,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "runserver did not answer in 60 s"
                time.sleep(0.2)  # polling a starting server, not waiting for a result
        yield {"base": base, "checks": checks, "imported": imported}
    finally:
        server.terminate()
        server.wait(timeout=10)


class Browser:
    """Cookies kept across requests, as a browser would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=60) as r:
            return r.status, r.read().decode()

    def post(self, path: str, body: bytes, content_type: str, referer: str) -> tuple[int, str]:
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Content-Type": content_type, "X-CSRFToken": token, "Referer": referer},
        )
        try:
            with self.opener.open(request, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


@pytest.mark.timeout(300)
def test_a_fresh_django_site_gets_the_widget_answers_doc_pages_and_statistics(fresh_site):
    base = fresh_site["base"]
    # What production would add, named by the checks (and no error).
    for check in ("assistant.W001", "assistant.W003", "assistant.W004", "assistant.W005"):
        assert check in fresh_site["checks"]
    assert "1 created" in fresh_site["imported"], fresh_site["imported"]

    browser = Browser(base)
    status, page = browser.get("/")
    assert status == 200 and 'id="helpdesk-widget"' in page
    script = re.search(r'<script type="module" src="([^"]+)"', page).group(1)
    style = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    status, js = browser.get(script)
    assert status == 200 and "helpdesk-widget" in js
    assert browser.get(style)[0] == 200
    assert "Ask" in page  # the widget's texts, from the app's own catalog

    question = {"question": "How do I refund an order?", "path": "/"}
    status, body = browser.post(
        "/assistant/api/help/", json.dumps(question).encode(), "application/json", base + "/"
    )
    assert status == 200, body
    answer = json.loads(body)
    assert answer["covered"] is True and answer["answer"].strip()
    assert answer["sources"][0]["url"].startswith("/assistant/docs/refund-an-order/")

    # The widget's endpoint, for a question not cached yet: under WSGI the stream arrives in
    # one piece, but whole.
    question = {"question": "Where do I click to refund an order?", "path": "/"}
    status, stream = browser.post(
        "/assistant/api/help/stream/", json.dumps(question).encode(), "application/json",
        base + "/",
    )
    kinds = re.findall(r"^event: (\w+)", stream, flags=re.M)
    assert status == 200 and kinds[0] == "meta" and kinds[-1] == "done", stream[:500]

    status, doc = browser.get(answer["sources"][0]["url"])
    assert status == 200 and "Refunding an order" in doc and "Refund" in doc

    status, login = browser.get("/admin/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode(
        {"username": "admin", "password": "fresh-site-pass-8472", "csrfmiddlewaretoken": csrf,
         "next": "/admin/"}
    ).encode()
    status, _ = browser.post(
        "/admin/login/", form, "application/x-www-form-urlencoded", base + "/admin/login/"
    )
    assert status == 200
    status, stats = browser.get("/admin/assistant/querylog/stats/")
    assert status == 200 and "Assistant statistics" in stats and "Latency" in stats
