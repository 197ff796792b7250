"""The widget works for everyone, checked in Debian's Chromium: axe-core's audit (the npm
package, injected by the tests: no CDN) finds no serious or critical violation on the pages a
reader meets; keyboard alone does everything; the icons are drawn; the pages fit a phone; a
French reader gets French end to end."""

import io
from pathlib import Path

import pytest

from tests.live_server import ask_in_widget, open_widget, wait_answered

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def audit(page) -> list[dict]:
    """axe-core's violations on the page as it is now: [{id, impact, nodes}]."""
    assert AXE.exists(), "make test installs axe-core (npm ci)"
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through the DevTools protocol: no CSP to bend
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(
             v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )


def _serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def _french(page) -> None:
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": page.base}])


STATES = ["closed", "open", "answered", "error", "french"]


@pytest.mark.parametrize("state", STATES)
def test_the_demo_page_with_the_widget_has_no_serious_violation(page, standin, state):
    if state == "french":
        _french(page)
    if state == "closed":
        page.goto(page.base + "/invoices/")
    else:
        open_widget(page)
    if state in ("answered", "french"):
        ask_in_widget(page, "comment créer une facture" if state == "french" else "export PDF")
        wait_answered(page)
    if state == "error":
        standin.reset(mode="error500")
        page.route("**/assistant/api/help/stream/", lambda route: route.fulfill(
            status=503, content_type="application/json",
            body='{"error": {"code": "busy", "message": "Too many answers are streaming."}}'))
        ask_in_widget(page, "How do I create an invoice?")
        page.wait_for_function("() => document.querySelector('.hd-status').textContent")
    assert _serious(audit(page)) == []


def test_a_doc_page_has_no_serious_violation(page):
    page.goto(page.base + "/assistant/docs/create-invoice/")
    assert _serious(audit(page)) == []


@pytest.fixture(scope="module")
def auditor(django_db_setup, django_db_blocker):
    """A superuser committed for the live app (another process) to log in; removed after."""
    from django.contrib.auth import get_user_model

    with django_db_blocker.unblock():
        user = get_user_model().objects.create_superuser("auditor", "a@example.org", "pw-audit")
    yield user
    with django_db_blocker.unblock():
        user.delete()


def test_the_statistics_page_has_no_serious_violation(page, auditor):
    page.goto(page.base + "/admin/login/?next=/admin/assistant/querylog/stats/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "pw-audit")
    page.click("[type=submit]")
    page.wait_for_selector(".hd-stats")  # logged in, on the statistics page
    assert _serious(audit(page)) == []


def test_keyboard_alone_opens_asks_stops_votes_and_closes(page, standin):
    standin.reset(delay=0.3)
    page.goto(page.base + "/invoices/")
    page.focus(".hd-launcher")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('hd-input')")
    page.keyboard.type("How do I add a new client?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".hd-stop:not([hidden])")
    assert page.get_attribute(".hd-answer", "aria-busy") == "true"  # read out when complete
    page.keyboard.press("Tab")  # the Ask button
    page.keyboard.press("Tab")  # Stop
    assert page.evaluate("document.activeElement.classList.contains('hd-stop')")
    page.keyboard.press("Enter")
    page.wait_for_selector(".hd-stop", state="hidden")
    assert page.get_attribute(".hd-answer", "aria-busy") == "false"
    standin.reset()
    page.focus(".hd-input")
    page.keyboard.press("Enter")  # the same question again
    wait_answered(page)
    for _ in range(20):
        if page.evaluate("document.activeElement.classList.contains('hd-vote')"):
            break
        page.keyboard.press("Tab")
    with page.expect_response(lambda r: "/assistant/api/feedback/" in r.url) as voted:
        page.keyboard.press("Enter")
    assert voted.value.status == 204
    page.keyboard.press("Escape")
    assert page.is_hidden(".hd-panel")
    assert page.evaluate("document.activeElement.classList.contains('hd-launcher')")


def test_motion_is_reduced_when_the_reader_asks(page):
    page.emulate_media(reduced_motion="reduce")
    open_widget(page)
    durations = page.evaluate(
        """() => [...document.querySelectorAll('#helpdesk-widget *')].map(
             n => getComputedStyle(n).transitionDuration + getComputedStyle(n).animationName)"""
    )
    assert set(durations) == {"0snone"}


def _ink(png: bytes) -> float:
    """The share of a screenshot's pixels that are not its background."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = list(image.tobytes())
    background = max(set(pixels), key=pixels.count)
    return sum(abs(p - background) > 40 for p in pixels) / len(pixels)


def test_the_icons_are_drawn_without_any_emoji_font(page):
    open_widget(page)
    ask_in_widget(page, "How do I add a new client?")
    wait_answered(page)
    for selector in (".hd-vote >> nth=0", ".hd-vote >> nth=1", ".hd-launcher"):
        svg = page.locator(f"{selector} >> svg")
        assert svg.bounding_box()["width"] >= 14
        assert _ink(svg.screenshot()) > 0.25, selector  # a drawn thumb, not an empty box


PAGES = ["/", "/clients/", "/clients/new/", "/invoices/", "/invoices/new/", "/settings/",
         "/assistant/docs/create-invoice/"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_fit_a_phone_without_scrolling_sideways(page, path):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(page.base + path)
    page.click(".hd-launcher")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert _serious(audit(page)) == []  # a table that scrolls sideways can be scrolled by keys


def test_a_french_reader_gets_a_french_widget_and_french_answers(page):
    page.goto(page.base + "/invoices/")
    page.select_option("#language", "fr")  # the demo's switch submits itself
    page.wait_for_function("() => document.documentElement.lang === 'fr'")
    assert page.inner_text(".hd-launcher").strip() == "Aide"
    page.click(".hd-launcher")
    assert page.get_attribute(".hd-input", "placeholder") == "Comment faire pour… ?"
    assert page.inner_text(".hd-ask") == "Demander"
    ask_in_widget(page, "comment créer une facture")
    wait_answered(page)
    assert page.inner_text(".hd-answer").startswith("D'après Créer et envoyer une facture")
    assert page.inner_text(".hd-status") == (
        "Pour le moment, l'assistant répond uniquement à partir de la documentation."
    )
    assert page.inner_text(".hd-feedback span >> nth=0") == "Cette réponse vous a-t-elle aidé ?"
