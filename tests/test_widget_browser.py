"""The widget in real headless Chromium (Debian's), driven by Playwright, against gunicorn."""

import json
import re
from pathlib import Path

import pytest

from tests.live_server import ask_as_you_type
from tests.live_server import ask_in_widget as _ask
from tests.live_server import open_widget as _open
from tests.live_server import rendered as _rendered
from tests.live_server import wait_answered as _wait_answered
from tests.ollama_standin import GROUNDED_TOKENS

STREAM = "/assistant/api/help/stream/"
ROOT = Path(__file__).resolve().parent.parent

# django_db: the test database must exist for the live app (see test_live.py).
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


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
        "() => document.getElementById('helpdesk-widget').dataset.lastSource === 'local-cache'"
    )
    assert page.inner_text(".hd-answer") == first == _rendered(standin.tokens)
    assert len(page.stream_requests) == 1
    # The replay is reported (batched; flushed now rather than after 5 s) under the answer id
    # the server issued, and logged as that answer.
    answer_id = page.evaluate("window.helpdeskWidget.answerId")
    with page.expect_response(lambda r: "/assistant/api/widget-hits/" in r.url) as hit:
        page.evaluate("window.helpdeskWidget.flushHits()")
    assert hit.value.status == 204
    assert json.loads(hit.value.request.post_data)["hits"][0]["id"] == answer_id
    from assistant.models import QueryLog

    original = QueryLog.objects.get(id=answer_id)
    # This page's visitor only: the module's other tests leave their rows in the live app's log.
    replay = QueryLog.objects.get(cache_level="widget", visitor=original.visitor)
    assert replay.question == original.question


def test_an_answer_is_over_at_done_however_long_its_connection_stays_open(page):
    """The server may close the stream a while after `done` (a proxy, the query log's
    write): asking the same question again then is answered locally, not ignored as the
    question still in flight."""
    body = _sse(
        ("meta", {"id": "x", "sources": [], "backend": "docs", "resolved": "add a client"}),
        ("token", {"text": "Click **New client**."}),
        ("done", {"id": "x", "latency_ms": 1, "ttft_ms": 1}),
    )
    _open(page)
    # The stream's events arrive, and its connection never closes.
    page.evaluate(
        """(body) => {
            const real = window.fetch;
            window.streams = 0;
            window.fetch = (url, init) => {
                if (!String(url).includes("/stream/")) return real(url, init);
                window.streams += 1;
                const stream = new ReadableStream({
                    start(c) { c.enqueue(new TextEncoder().encode(body)); },
                });
                const headers = {"Content-Type": "text/event-stream"};
                return Promise.resolve(new Response(stream, {status: 200, headers}));
            };
        }""",
        body,
    )
    _ask(page, "add a client")
    _wait_answered(page)
    _ask(page, "Add a client?")
    page.wait_for_function(
        "() => document.getElementById('helpdesk-widget').dataset.lastSource === 'local-cache'"
    )
    assert page.inner_text(".hd-answer") == "Click New client."
    assert page.evaluate("window.streams") == 1


def test_partial_text_is_visible_before_the_stream_ends(page, standin):
    standin.reset(delay=0.4)
    _open(page, "/clients/")
    _ask(page, "How do I add a new client?")
    page.wait_for_function(
        "() => document.querySelector('.hd-answer').textContent.includes('Open')"
    )
    sent_when_visible = len(standin.sent_log)
    assert page.is_hidden(".hd-feedback")
    assert sent_when_visible < len(standin.tokens) + 1
    _wait_answered(page)
    assert page.inner_text(".hd-answer") == _rendered(standin.tokens)


def test_a_faithful_answer_streams_sentence_by_sentence(page, standin):
    """A model answer in its own words (labels written plainly, as the docs capitalise them)
    reaches the reader from the model a checked sentence at a time: its first sentence is
    on screen while the model is still writing, not held until it ends."""
    answer = (
        "Open ", "Invoices. ", "Select ", "the ", "invoices ", "you ", "need. ", "Each ",
        "invoice ", "starts ", "on ", "a ", "new ", "page. ", "Then ", "click ", "Export ", "PDF.",
    )  # fmt: skip
    standin.reset(delay=0.4, tokens=list(answer))
    _open(page, "/invoices/")
    _ask(page, "How do I export invoices to PDF?")
    page.wait_for_function(
        "() => document.querySelector('.hd-answer').textContent.includes('Open Invoices.')"
    )
    # On screen before the model sent the second sentence's last token ("need. ").
    assert len(standin.sent_log) <= answer.index("need. ")
    _wait_answered(page)
    assert page.inner_text(".hd-answer") == _rendered(answer)  # the model's, whole


def test_a_new_question_aborts_the_one_in_flight(page, standin):
    standin.reset(delay=0.3, tokens=list(GROUNDED_TOKENS) * 4)
    _open(page)
    _ask(page, "How do I add a new client?")
    page.wait_for_function("() => document.querySelector('.hd-answer').textContent.length > 0")
    standin.tokens = ["Click ", "**New client**."]
    _ask(page, "how do I create a new customer?")
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
    page.wait_for_function("() => document.querySelector('.hd-status').textContent.includes('7')")
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
    page.wait_for_function(
        "() => document.querySelector('.hd-status').textContent.includes('ahead')"
    )
    assert page.inner_text(".hd-status") == "2 questions ahead of yours…"


def test_offline_message(page):
    _open(page)
    page.context.set_offline(True)
    _ask(page, "How do I export invoices?")
    page.wait_for_function(
        "() => document.querySelector('.hd-status').textContent.includes('offline')"
    )
    page.context.set_offline(False)


def test_feedback_is_recorded(page, standin):
    _open(page)
    _ask(page, "How do I export invoices?")
    _wait_answered(page)
    with page.expect_response(lambda r: "/assistant/api/feedback/" in r.url) as info:
        page.click(".hd-vote >> nth=0")
    assert info.value.status == 204
    page.wait_for_function(
        "() => document.querySelector('.hd-status').textContent.includes('Thanks')"
    )


def test_screenshot_of_the_open_widget(page, standin, tmp_path):
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
    # Not into the tracked docs/*.png (bench/a11y.py): a test never writes the developer's files.
    out = tmp_path / "widget.png"
    page.screenshot(path=str(out))
    assert out.stat().st_size > 10_000


@pytest.fixture(scope="module")
def staff(live_docs, django_db_blocker):
    """A superuser the live app can see (committed before the test's transaction), removed
    afterwards; and a doc's pk and slug for the pages to visit (read here: a read inside the
    test's transaction would lock SQLite against the live app's writes)."""
    from django.contrib.auth import get_user_model

    from assistant.models import HelpDoc

    with django_db_blocker.unblock():
        user = get_user_model().objects.create_superuser("csp-admin", password="csp-admin-pw")
        user.doc = HelpDoc.objects.get(slug="create-client")
    yield user
    with django_db_blocker.unblock():
        user.delete()


def test_the_admin_and_the_pages_work_under_the_content_security_policy(page, staff, standin):
    """Strict CSP on every page (no inline script or style, no eval, connect-src 'self', never
    in a frame); the admin's own pages, the statistics page with its chart, a doc page and
    the widget work under it: the fixture fails the test on any violation Chromium reports."""
    doc = staff.doc
    response = page.goto(page.base + "/admin/login/?next=/admin/")
    policy = response.headers["content-security-policy"]
    for directive in (
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", "csp-admin-pw")
    page.click("input[type=submit]")
    page.wait_for_url(page.base + "/admin/")
    for path, selector in [
        ("/admin/assistant/helpdoc/", "#result_list"),
        (f"/admin/assistant/helpdoc/{doc.pk}/change/", ".helpdoc-preview"),
        ("/admin/assistant/querylog/", "#changelist"),
        ("/admin/assistant/querylog/stats/?window=30d", "svg[aria-label]"),
        (f"/assistant/docs/{doc.slug}/", "h1"),
        ("/settings/", "form[data-demo-form]"),
    ]:
        response = page.goto(page.base + path)
        assert response.status == 200 and "content-security-policy" in response.headers, path
        page.wait_for_selector(selector)
    # The stats page's stylesheet applied (a <style> block would have been refused).
    page.goto(page.base + "/admin/assistant/querylog/stats/")
    align = page.eval_on_selector("td.num", "el => getComputedStyle(el).textAlign")
    assert align == "right"
    # The demo form stays on the page (its handler is in a script file, not inline).
    page.goto(page.base + "/settings/")
    page.click("form[data-demo-form] button[type=submit]")
    assert page.url == page.base + "/settings/"
    # And the widget streams an answer on the same pages.
    _open(page, "/clients/")
    _ask(page, "How do I add a new customer?")
    _wait_answered(page)


def test_the_local_cache_evicts_the_least_recently_used_answer(page):
    _open(page)
    kept = page.evaluate(
        """() => {
            const lru = new window.helpdeskWidget.cache.constructor(2);
            lru.set("a", 1); lru.set("b", 2);
            lru.get("a");          // "a" is now the most recently used
            lru.set("c", 3);       // so "b" goes
            return [lru.get("a"), lru.get("b"), lru.get("c")];
        }"""
    )
    assert kept == [1, None, 3]


def test_page_hints_are_taken_again_when_the_path_changes(page, standin):
    _open(page, "/invoices/")
    _ask(page, "How do I export invoices?")
    _wait_answered(page)
    first = json.loads(page.stream_requests[0].post_data)["hints"]
    assert "Invoices" in first
    # A single-page app moves to another path and shows another heading.
    page.evaluate(
        """() => {
            history.pushState({}, "", "/clients/");
            document.querySelector("h1").textContent = "Client directory";
        }"""
    )
    _ask(page, "How do I add a new client?")
    _wait_answered(page)
    second = json.loads(page.stream_requests[1].post_data)
    assert second["path"] == "/clients/" and "Client directory" in second["hints"]


def test_the_question_limit_comes_from_the_server(page):
    _open(page)
    limit = page.get_attribute("#helpdesk-widget", "data-max-chars")
    assert limit == "500" and page.get_attribute(".hd-input", "maxlength") == limit


def test_a_follow_up_in_the_widget_shows_what_was_understood(page):
    _open(page)
    _ask(page, "How do I create an invoice?")
    _wait_answered(page)
    first_id = page.evaluate("window.helpdeskWidget.answerId")
    assert page.is_hidden(".hd-resolved")
    _ask(page, "and how do I send it?")
    page.wait_for_function(
        "() => document.querySelector('.hd-resolved').textContent.startsWith('Answering:')"
    )
    _wait_answered(page)
    assert page.inner_text(".hd-resolved") == "Answering: How do I send an invoice?"
    assert page.inner_text(".hd-sources a") == "Creating and sending an invoice"
    assert "Send invoice" in page.inner_text(".hd-answer")
    sent = json.loads(page.stream_requests[-1].post_data)
    assert sent["history"] == [{"question": "How do I create an invoice?", "id": first_id}]
    # A new conversation: the same words now stand alone.
    page.click(".hd-new")
    assert page.is_hidden(".hd-new")
    _ask(page, "and how do I send it?")
    _wait_answered(page)
    assert page.is_hidden(".hd-resolved")
    assert json.loads(page.stream_requests[-1].post_data)["history"] == []


def test_moving_to_another_section_of_the_site_ends_the_conversation(page):
    _open(page)
    _ask(page, "How do I create an invoice?")
    _wait_answered(page)
    page.evaluate("history.pushState({}, '', '/clients/')")  # the app moved on
    _ask(page, "and how do I send it?")
    _wait_answered(page)
    assert json.loads(page.stream_requests[-1].post_data)["history"] == []


def test_a_follow_up_is_answered_locally_only_after_the_same_turn(page):
    _open(page)
    _ask(page, "How do I create an invoice?")
    _wait_answered(page)
    _ask(page, "and how do I send it?")
    _wait_answered(page)
    assert len(page.stream_requests) == 2
    page.click(".hd-new")
    _ask(page, "How do I add a new client?")  # another conversation
    _wait_answered(page)
    _ask(page, "and how do I send it?")  # the same words mean something else now
    _wait_answered(page)
    assert len(page.stream_requests) == 4
    assert page.evaluate("document.getElementById('helpdesk-widget').dataset.lastSource") == (
        "network"
    )
