"""`python -m bench.a11y`: axe-core's audit of the pages a reader meets, violations counted
by impact, and the widget's screenshots (English and French, desktop and 390 px) in docs/.

    python -m bench.a11y                     # this checkout: the table, and docs/*.png
    python -m bench.a11y --root /tmp/before  # another checkout (an older commit), same audit

The app runs under gunicorn on loopback with the docs answer only (no model: the audit is of
the pages, not of what a model writes), on a scratch SQLite database with the demo docs.
The browser tests (tests/test_accessibility.py) hold the target; this prints the figures.
"""

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, free_port, wait_until_serving  # noqa: E402

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("critical", "serious", "moderate", "minor")
ADMIN = ("auditor", "pw-for-the-audit")


def serve(root: Path, db: Path) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        "ASSISTANT_BACKENDS": "docs",
        "SECRET_KEY": "a11y-audit-only",
        "DEBUG": "0",
        "HELP_RATE_LIMIT": "1000/60",
        "DJANGO_SUPERUSER_PASSWORD": ADMIN[1],
    }
    manage = [sys.executable, "manage.py"]
    quiet = {"cwd": root, "env": env, "check": True, "stdout": subprocess.DEVNULL}
    db.unlink(missing_ok=True)
    subprocess.run([*manage, "migrate", "--noinput"], **quiet)
    subprocess.run([*manage, "load_demo_docs"], **quiet)
    subprocess.run([*manage, "createsuperuser", "--noinput", "--username", ADMIN[0],
                    "--email", "a@example.org"], **quiet)  # fmt: skip
    port = free_port()
    log = "/tmp/helpdesk-a11y-gunicorn.log"
    with open(log, "ab") as errors:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
             f"127.0.0.1:{port}", "--workers", "1"],  # fmt: skip
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=errors,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, url + "/assistant/api/health/", 30, log)
    return proc, url


def audit(page) -> list[dict]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(
             v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"""
    )


def ask(page, question: str) -> None:
    page.fill(".hd-input", question)
    page.press(".hd-input", "Enter")
    page.wait_for_function(
        "() => document.querySelector('.hd-answer').textContent.length > 0 && "
        "document.querySelector('.hd-stop').hidden"
    )


def states(page, url: str):
    """(name, set-up) for each page and state the issue names."""

    def widget(path="/invoices/", question=None, french=False, width=1200, error=False):
        def go():
            page.context.clear_cookies()
            if french:
                page.context.add_cookies([{"name": "django_language", "value": "fr", "url": url}])
            page.set_viewport_size({"width": width, "height": 800})
            page.unroute("**/assistant/api/help/stream/")
            page.goto(url + path)
            page.click(".hd-launcher")
            if error:  # what the widget shows when every answer slot is taken
                busy = '{"error": {"code": "busy", "message": "Too many answers."}}'
                page.route("**/assistant/api/help/stream/", lambda r: r.fulfill(
                    status=503, content_type="application/json", body=busy))  # fmt: skip
                page.fill(".hd-input", "How do I create an invoice?")
                page.press(".hd-input", "Enter")
                page.wait_for_function("() => document.querySelector('.hd-status').textContent")
            elif question:
                ask(page, question)

        return go

    def closed():
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1200, "height": 800})
        page.goto(url + "/invoices/")

    def doc():
        page.goto(url + "/assistant/docs/create-invoice/")

    def stats():
        page.goto(url + "/admin/login/?next=/admin/assistant/querylog/stats/")
        page.fill("#id_username", ADMIN[0])
        page.fill("#id_password", ADMIN[1])
        page.click("[type=submit]")
        page.wait_for_url("**/querylog/stats/")

    return [
        ("demo page, widget closed", closed),
        ("widget open", widget()),
        ("streamed answer", widget(question="How do I create an invoice?")),
        ("error", widget(error=True)),
        ("French", widget(question="comment créer une facture", french=True)),
        ("phone (360 px), answer", widget(question="How do I add a client?", width=360)),
        ("doc page", doc),
        ("statistics page", stats),
    ]


PAGES = ["/", "/clients/", "/clients/new/", "/invoices/", "/invoices/new/", "/settings/",
         "/assistant/docs/create-invoice/"]  # fmt: skip

SHOTS = [
    ("widget-en-desktop.png", False, 1200, "How do I create an invoice?"),
    ("widget-fr-desktop.png", True, 1200, "comment créer une facture"),
    ("widget-en-390.png", False, 390, "How do I create an invoice?"),
    ("widget-fr-390.png", True, 390, "comment créer une facture"),
]


def screenshots(page, url: str, folder: Path) -> None:
    for name, french, width, question in SHOTS:
        page.context.clear_cookies()
        if french:
            page.context.add_cookies([{"name": "django_language", "value": "fr", "url": url}])
        page.set_viewport_size({"width": width, "height": 844 if width < 500 else 800})
        page.goto(url + "/invoices/")
        page.click(".hd-launcher")
        ask(page, question)
        page.screenshot(path=str(folder / name))
        print(f"wrote {folder / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    if not AXE.exists():
        sys.exit("axe-core is missing: make axe (npm ci)")
    from playwright.sync_api import sync_playwright

    proc, url = serve(args.root.resolve(), Path("/tmp/helpdesk-a11y.sqlite3"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            print(f"axe-core on {args.root.resolve()}\n")
            print("| page | " + " | ".join(IMPACTS) + " | rules |")
            print("|---|" + "---:|" * len(IMPACTS) + "---|")
            for name, set_up in states(page, url):
                try:
                    set_up()
                    found = audit(page)
                except Exception as error:  # an older checkout may lack a state
                    print(f"| {name} | not measured: {type(error).__name__} |")
                    continue
                counts = Counter(v["impact"] for v in found)
                rules = ", ".join(f"{v['id']} ({v['nodes']})" for v in found) or "none"
                by_impact = " | ".join(str(counts[i]) for i in IMPACTS)
                print(f"| {name} | {by_impact} | {rules} |")
            print("\nPage width at 360 px (scrollWidth; over 360 scrolls sideways):")
            page.context.clear_cookies()
            page.set_viewport_size({"width": 360, "height": 740})
            for path in PAGES:
                page.goto(url + path)
                print(f"- {path}: {page.evaluate('document.documentElement.scrollWidth')} px")
            if not args.no_screenshots and args.root.resolve() == ROOT:
                screenshots(page, url, ROOT / "docs")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
