"""The widget in real headless Chromium (Debian's), driven by Playwright, against gunicorn."""

import json
import os
import re
from pathlib import Path

import pytest

from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, ask_as_you_type
from tests.ollama_standin import GROUNDED_TOKENS

STREAM = "/assistant/api/help/stream/"
ROOT = Path(__file__).resolve().parent.parent

# django_db: the test database must exist for the live app (see test_live.py).
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("make test installs Debian's chromium; it is missing")
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own database work
    # (the django_db transaction) is sync code that Django would then refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(live_app, standin, browser):
    standin.reset()
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.stream_requests = []
    pg.failed = []
    pg.dialogs = []
    pg.on("request", lambda r: STREAM in r.url and pg.stream_requests.append(r))
    pg.on("requestfailed", lambda r: pg.failed.append((r.url, r.failure)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.base = live_app.url
    yield pg
    context.close()


def _open(page, path="/invoices/"):
    page.goto(page.base + path)
    page.click(".hd-launcher")
    page.wait_for_selector(".hd-input:focus")


def _ask(page, question):
    page.fill(".hd-input", question)
    page.press(".hd-input", "Enter")


def _rendered(tokens) -> str:
    """The answer's text as the widget shows it: **labels** rendered bold."""
    return "".join(tokens).replace("**", "")


def _wait_answered(page):
    page.wait_for_selector(".hd-feedback:not([hidden])", timeout=15000)


def test_live_typing_sends_exactly_one_request(page, standin):
    ask_as_you_type(page, r".*/invoices/$")
    _open(page)
    page.type(".hd-input", "invoice", delay=80)
    _wait_answered(page)
    assert len(page.stream_requests) == 1
    assert standin.chat_calls == 1


def test_the_same_question_twice_is_answered_locally_the_second_time(page, standin):
    _open(page, "/clients/")
    _ask(page, "How do I add a new client?")
    _wait_answered(page)
    first = page.inner_text(".hd-answer")
    _ask(page, "how do i ADD a new client")
    page.wait_for_function(
        "document.getElementById('helpdesk-widget').dataset.lastSource === 'local-cache'"
    )
    assert page.inner_text(".hd-answer") == first == _rendered(standin.tokens)
    assert len(page.stream_requests) == 1


def test_partial_text_is_visible_before_the_stream_ends(page, standin):
    standin.reset(delay=0.4)
    _open(page, "/clients/")
    _ask(page, "How do I add a new client?")
    page.wait_for_function("document.querySelector('.hd-answer').textContent.includes('Open')")
    sent_when_visible = len(standin.sent_log)
    assert page.is_hidden(".hd-feedback")
    assert sent_when_visible < len(standin.tokens) + 1
    _wait_answered(page)
    assert page.inner_text(".hd-answer") == _rendered(standin.tokens)


def test_a_new_question_aborts_the_one_in_flight(page, standin):
    standin.reset(delay=0.3, tokens=list(GROUNDED_TOKENS) * 4)
    _open(page)
    _ask(page, "How do I add a new client?")
    page.wait_for_function("document.querySelector('.hd-answer').textContent.length > 0")
    standin.tokens = ["Click ", "**New client**."]
    _ask(page, "register another company as a customer")
    _wait_answered(page)
    assert page.inner_text(".hd-answer") == "Click New client."
    assert len(page.stream_requests) == 2
    assert any(STREAM in url for url, _ in page.failed)  # the first fetch was aborted
    assert standin.abandoned_event.wait(10)  # and the server stopped that generation


def _sse(*events: tuple[str, dict]) -> str:
    return "".join(f"event: {k}\ndata: {json.dumps(d)}\n\n" for k, d in events)


def test_hostile_model_output_renders_inert(page, standin):
    """Defence in depth: should hostile text ever get past the server's guard, the widget
    still renders it inert (the stream is served to it directly here)."""
    tokens = [
        '<img src=x onerror="window.__xss=1">',
        " <script>window.__xss=2</script>",
        " [click me](javascript:window.__xss=3)",
        " **bold** and [docs](https://example.com/d)",
    ]
    meta = {"id": "x", "sources": [], "cached": False, "backend": "ollama", "model": "m"}
    body = _sse(
        ("meta", {**meta, "covered": True}),
        *[("token", {"text": t}) for t in tokens],
        ("done", {"id": "x", "latency_ms": 1, "ttft_ms": 1}),
    )
    page.route(
        re.compile(".*" + re.escape(STREAM)),
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    _open(page)
    _ask(page, "show me something")
    _wait_answered(page)
    answer = page.locator(".hd-answer")
    assert answer.locator("img, script, iframe").count() == 0
    assert "<img src=x" in answer.inner_text()  # shown as text
    links = answer.locator("a")
    assert links.count() == 1
    assert links.first.get_attribute("href") == "https://example.com/d"
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert answer.locator("strong").inner_text() == "bold"
    page.get_by_text("click me").click()  # plain text now: no navigation, no code
    assert page.url == page.base + "/invoices/"
    assert page.evaluate("window.__xss") is None and page.dialogs == []


def test_keyboard_only_open_ask_read_close(page, standin):
    page.goto(page.base + "/clients/")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('hd-launcher')"):
            break
    else:
        pytest.fail("the launcher is not reachable with Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('hd-input')")
    page.keyboard.type("How do I add a client?")
    page.keyboard.press("Enter")
    _wait_answered(page)
    assert page.get_attribute(".hd-answer", "aria-live") == "polite"
    assert page.inner_text(".hd-answer") == _rendered(standin.tokens)
    page.keyboard.press("Escape")
    assert page.is_hidden(".hd-panel")
    assert page.evaluate("document.activeElement.classList.contains('hd-launcher')")


def test_docs_fallback_is_said(page, standin):
    standin.reset(mode="missing404")
    _open(page)
    _ask(page, "How do I export invoices?")
    _wait_answered(page)
    assert "help docs only" in page.inner_text(".hd-status")
    assert page.locator(".hd-sources a").first.get_attribute("href").startswith("/assistant/docs/")


def test_rate_limited_message_says_when_to_retry(page):
    page.route(
        re.compile(".*" + re.escape(STREAM)),
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "7", "Content-Type": "application/json"},
            body='{"error": {"code": "rate_limited", "message": "Too many questions"}}',
        ),
    )
    _open(page)
    _ask(page, "How do I export invoices?")
    page.wait_for_function("document.querySelector('.hd-status').textContent.includes('7')")
    assert "wait 7 seconds" in page.inner_text(".hd-status")


def test_a_queued_question_says_how_many_are_ahead(page):
    page.route(
        re.compile(".*" + re.escape(STREAM)),
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=': answer on its way\n\nevent: queued\ndata: {"position": 3, "wait_s": 4.0}\n\n',
        ),
    )
    _open(page)
    _ask(page, "How do I export invoices?")
    page.wait_for_function("document.querySelector('.hd-status').textContent.includes('ahead')")
    assert page.inner_text(".hd-status") == "2 questions ahead of yours…"


def test_offline_message(page):
    _open(page)
    page.context.set_offline(True)
    _ask(page, "How do I export invoices?")
    page.wait_for_function("document.querySelector('.hd-status').textContent.includes('offline')")
    page.context.set_offline(False)


def test_feedback_is_recorded(page, standin):
    _open(page)
    _ask(page, "How do I export invoices?")
    _wait_answered(page)
    with page.expect_response(lambda r: "/assistant/api/feedback/" in r.url) as info:
        page.click("[aria-label='Helpful']")
    assert info.value.status == 204
    page.wait_for_function("document.querySelector('.hd-status').textContent.includes('Thanks')")


def test_screenshot_of_the_open_widget(page, standin):
    standin.reset(
        tokens=[
            "To create an invoice, open **Invoices** and click ",
            "**Create invoice**. Choose the client, add one line per ",
            "service, pick the VAT rate, then click **Send invoice**.",
        ]
    )
    _open(page)
    _ask(page, "How do I create an invoice?")
    _wait_answered(page)
    out = ROOT / "docs" / "widget.png"
    out.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(out))
    assert out.stat().st_size > 10_000
