"""POST /assistant/api/help/: the answer, its shape, bad input, the cache and audiences."""

import json

import pytest
from django.contrib.auth import get_user_model

from assistant import backends
from assistant.backends import breaker
from assistant.models import HelpDoc
from tests.conftest import Recording

pytestmark = pytest.mark.django_db

SHAPE = {
    "id", "answer", "sources", "cached", "backend", "model", "latency_ms", "covered", "coverage",
    "resolved",
}  # fmt: skip


def test_docs_only_chain_answers_with_quoted_passages_and_links(ask, demo_docs):
    r = ask({"question": "How do I add a new customer?", "path": "/clients/", "hints": ""})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == SHAPE
    assert body["backend"] == "docs" and body["model"] == "docs" and body["cached"] is False
    assert body["sources"][0] == {
        "title": "Creating a client",
        "url": "/assistant/docs/create-client/",
    }
    assert "New client" in body["answer"]


def test_every_model_failing_falls_back_to_the_docs(ask, demo_docs, settings, monkeypatch):
    monkeypatch.setitem(backends.REGISTRY, "recording", Recording(fail=True))
    settings.ASSISTANT_BACKENDS = ["recording", "ollama", "docs"]
    settings.OLLAMA_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.OLLAMA_CONNECT_TIMEOUT = 0.5
    r = ask({"question": "export invoices to pdf", "path": "/invoices/"})
    assert r.status_code == 200
    assert r.json()["backend"] == "docs"
    assert "Export PDF" in r.json()["answer"]


def test_chain_without_docs_and_no_model_answers_503_json(ask, demo_docs, settings):
    settings.ASSISTANT_BACKENDS = ["ollama"]
    settings.OLLAMA_URL = "http://127.0.0.1:9"
    r = ask({"question": "export invoices", "path": "/"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"


def test_repeat_differing_in_case_spaces_punctuation_is_cached(ask, demo_docs, recording):
    first = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
    again = ask({"question": "  how do i ADD a new customer ", "path": "/clients/42/"}).json()
    assert first["cached"] is False and again["cached"] is True
    assert again["answer"] == first["answer"] == "From the docs: click New client."
    assert again["backend"] == "recording"
    assert len(recording.prompts) == 1
    assert again["id"] != first["id"]


def test_editing_a_doc_makes_the_next_answer_fresh(ask, demo_docs, recording):
    ask({"question": "add a client", "path": "/clients/"})
    doc = HelpDoc.objects.get(slug="create-client")
    doc.body += "\n\nYou can also press N on the clients list."
    doc.save()
    body = ask({"question": "add a client", "path": "/clients/"}).json()
    assert body["cached"] is False
    assert len(recording.prompts) == 2
    assert "press N" in recording.prompts[1].user


def test_deleting_a_doc_makes_the_next_answer_fresh(ask, demo_docs, recording):
    ask({"question": "add a client", "path": "/clients/"})
    HelpDoc.objects.get(slug="import-clients").delete()
    assert ask({"question": "add a client", "path": "/clients/"}).json()["cached"] is False


BAD_BODIES = [
    ("missing question", json.dumps({"path": "/"})),
    ("empty question", json.dumps({"question": ""})),
    ("blank question", json.dumps({"question": "   \n\t "})),
    ("null question", json.dumps({"question": None})),
    ("number question", json.dumps({"question": 42})),
    ("list question", json.dumps({"question": ["a"]})),
    ("too long question", json.dumps({"question": "x" * 501})),
    ("array body", "[]"),
    ("string body", '"how?"'),
    ("invalid json", "{question: 1"),
    ("empty body", ""),
    ("invalid utf-8", b'{"question": "\xff\xfe"}'),
    ("hints not a string", json.dumps({"question": "ok", "hints": {"a": 1}})),
]


@pytest.mark.parametrize("endpoint", ["help", "help/stream"])
@pytest.mark.parametrize("label,body", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_a_400_json_error(ask, label, body, endpoint):
    r = ask(body, endpoint=endpoint)
    assert r.status_code == 400, label
    assert r["Content-Type"] == "application/json"
    assert r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["message"]


DEEP = "[" * 50_000 + "]" * 50_000
HOSTILE = [
    ("50,000 levels of arrays", DEEP, 400, "invalid_request"),
    (
        "deep value inside the object",
        '{"question": "ok", "hints": ' + DEEP + "}",
        400,
        "invalid_request",
    ),
    (
        "a 3 MB body (past Django's upload limit)",
        json.dumps({"question": "x" * 3_000_000}),
        413,
        "too_large",
    ),
    ("a 300 KB body", json.dumps({"question": "ok", "hints": "h" * 300_000}), 413, "too_large"),
]


@pytest.mark.parametrize("endpoint", ["help", "help/stream", "feedback", "widget-hits"])
@pytest.mark.parametrize("label,body,status,code", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_are_a_4xx_json_error_never_a_500(ask, label, body, status, code, endpoint):
    r = ask(body, endpoint=endpoint)
    assert (r.status_code, r["Content-Type"]) == (status, "application/json"), label
    assert r.json()["error"]["code"] == code


def test_question_at_the_limit_is_accepted(ask, db):
    assert ask({"question": "x" * 500}).status_code == 200


@pytest.mark.parametrize(
    "method,url,status,code",
    [
        ("get", "/assistant/api/help/", 405, "method_not_allowed"),
        ("put", "/assistant/api/help/stream/", 405, "method_not_allowed"),
        ("get", "/assistant/api/nope/", 404, "not_found"),
        ("post", "/assistant/api/feedback/x/", 404, "not_found"),
    ],
)
def test_api_404_and_405_are_json(client, method, url, status, code):
    r = getattr(client, method)(url)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code


def test_csrf_failure_is_json(db):
    from django.test import Client

    r = Client(enforce_csrf_checks=True).post(
        "/assistant/api/help/", data="{}", content_type="application/json"
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"


# --- Audience -------------------------------------------------------------------------------

SECRET = "ZEBRA-REFUND-7731"
REFUND_Q = {"question": "How do refunds and credit notes work?", "path": "/invoices/"}


def _staff(client):
    user = get_user_model().objects.create_user("ann", password="x", is_staff=True)
    client.force_login(user)


def test_staff_doc_reaches_staff_prompt(client, ask, demo_docs, recording):
    _staff(client)
    body = ask(REFUND_Q).json()
    assert SECRET in recording.prompts[0].user
    assert "Refunds and credit notes (internal procedure)" in [s["title"] for s in body["sources"]]


def test_staff_doc_never_reaches_anonymous_even_after_staff_asked(
    client, ask, demo_docs, recording, settings
):
    _staff(client)
    ask(REFUND_Q)
    client.logout()
    body = ask(REFUND_Q).json()
    assert body["cached"] is False  # the staff answer is not shared
    # Whatever the reader may see of credit notes, the staff doc never reaches the prompt.
    assert SECRET in recording.prompts[0].user
    assert all(SECRET not in p.user and "internal" not in p.user for p in recording.prompts[1:])
    assert "internal" not in json.dumps(body["sources"]).lower()
    assert SECRET not in body["answer"]
    # and the docs fallback, with no model at all
    settings.ASSISTANT_BACKENDS = ["docs"]
    body = ask(REFUND_Q).json()
    assert body["backend"] == "docs"
    assert SECRET not in body["answer"] and "internal" not in json.dumps(body).lower()


def test_authenticated_doc_is_hidden_from_anonymous(client, ask, demo_docs):
    q = {"question": "what is in my subscription plan", "path": "/settings/"}
    assert "subscription" not in json.dumps(ask(q).json()).lower().replace(q["question"], "")
    client.force_login(get_user_model().objects.create_user("bob", password="x"))
    assert "Your subscription and billing plan" in json.dumps(ask(q).json())


def test_doc_page_respects_audience(client, demo_docs):
    assert client.get("/assistant/docs/refunds-internal/").status_code == 404
    assert client.get("/assistant/docs/create-client/").status_code == 200
    _staff(client)
    assert SECRET in client.get("/assistant/docs/refunds-internal/").content.decode()


def test_unpublished_doc_is_never_used(ask, demo_docs, recording):
    HelpDoc.objects.filter(slug="export-invoices").update(published=False)
    body = ask({"question": "export invoices to pdf", "path": "/invoices/"}).json()
    assert "Exporting invoices to PDF" not in json.dumps(body)
    assert body["covered"] is False and recording.prompts == []


def test_disallowed_host_under_the_api_is_json(client, settings):
    settings.ALLOWED_HOSTS = ["example.com"]
    r = client.post("/assistant/api/help/", "{}", content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def test_a_crash_under_the_api_is_a_json_500_without_a_trace(ask, monkeypatch):
    from assistant import views

    async def boom(question):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "ask", boom)
    for endpoint in ("help", "help/stream"):
        r = ask({"question": "hello"}, endpoint=endpoint)
        assert r.status_code == 500
        assert r.json() == {
            "error": {"code": "internal", "message": "Something went wrong on our side."}
        }


def test_doc_page_leaves_raw_html_out_and_drops_unsafe_links(client, db):
    HelpDoc.objects.create(
        title="Tricky",
        slug="tricky",
        audience="public",
        body="<script>alert(1)</script>\n\n[bad](javascript:alert(2)) [good](https://x.test/a)"
        '\n\nSee <img src=x onerror="alert(3)"> this.',
    )
    html = client.get("/assistant/docs/tricky/").content.decode()
    assert "alert(1)" not in html and "alert(3)" not in html and "onerror" not in html
    assert "javascript:" not in html
    assert 'href="https://x.test/a"' in html


def test_rate_limit_identity_behind_trusted_proxies(ask, settings, demo_docs):
    settings.HELP_RATE_LIMIT = "1/60"

    def asked(n: int, xff: str, **extra) -> int:
        q = {"question": f"add a client {n}", "path": "/clients/"}  # covered: counts
        return ask(q, HTTP_X_FORWARDED_FOR=xff, **extra).status_code

    # No trusted proxy: a forged X-Forwarded-For changes nothing.
    assert asked(1, "1.1.1.1") == 200
    assert asked(2, "2.2.2.2") == 429
    # One trusted proxy: the address it saw is the reader's.
    settings.HELP_TRUSTED_PROXY_HOPS = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    assert asked(3, "6.6.6.6, 3.3.3.3", **proxy) == 200
    assert asked(4, "7.7.7.7, 3.3.3.3", **proxy) == 429
    assert asked(5, "4.4.4.4", **proxy) == 200


def test_a_fallback_answer_is_cached_briefly_a_model_answer_for_the_ttl(
    ask, ollama, settings, monkeypatch
):  # (the ollama fixture loads the demo docs)
    from django.core.cache import cache

    from assistant.answering import answer_cache

    settings.HELP_CACHE_TTL = 300
    seen = {}

    class Recording:
        def get(self, key):
            return cache.get(key)

        def set(self, key, value, timeout):
            seen[value["backend"]] = timeout
            cache.set(key, value, timeout)

    monkeypatch.setattr(answer_cache, "cache", Recording())
    ollama.reset(mode="missing404")
    assert ask({"question": "export invoices", "path": "/invoices/"}).json()["backend"] == "docs"
    ollama.reset()
    breaker.success(f"ollama:{ollama.url}")  # the model is back
    assert ask({"question": "add a client", "path": "/clients/"}).json()["backend"] == "ollama"
    assert seen == {"docs": answer_cache.FALLBACK_TTL, "ollama": 300}


@pytest.mark.parametrize("path", ["/", "/admin/login/", "/assistant/api/health/", "/nope/"])
def test_every_response_carries_the_strict_content_security_policy(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert directives["style-src"] == directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == directives["object-src"] == "'none'"
    assert "unsafe" not in policy


def test_the_widget_tag_hands_the_server_limits_to_the_widget(rf, settings):
    from django.template import engines

    settings.HELP_MAX_QUESTION_CHARS = 120
    html = engines["django"].from_string("{% load help_widget %}{% help_widget %}").render(
        {"request": rf.get("/")}
    )
    assert 'data-max-chars="120"' in html and "data-help-url" not in html


def test_a_signed_in_readers_rate_limit_is_their_own_whatever_the_ip(
    client, ask, settings, demo_docs
):
    """Readers share an office IP: each signed-in one has a budget of their own, which
    follows them to another address."""
    settings.HELP_RATE_LIMIT = "1/60"
    users = get_user_model().objects

    def asked(n: int, address: str) -> int:
        q = {"question": f"add a client {n}", "path": "/clients/"}  # covered: counts
        return ask(q, REMOTE_ADDR=address).status_code

    client.force_login(users.create_user("ann", password="x"))
    assert asked(1, "10.0.0.7") == 200
    client.force_login(users.create_user("bob", password="x"))
    assert asked(2, "10.0.0.7") == 200  # same IP, another reader
    assert asked(3, "10.9.9.9") == 429  # bob again, from elsewhere


def test_the_reply_language_is_part_of_the_cache_key(ask, demo_docs, recording):
    q = {"question": "How do I add a client?", "path": "/clients/"}
    for lang in ("en", "en", "fr", "fr-FR"):
        ask({**q, "lang": lang})
    assert len(recording.prompts) == 2  # one answer per language


def test_health_is_503_when_nothing_can_answer(client, settings):
    from assistant.backends import breaker

    settings.ASSISTANT_BACKENDS = ["ollama"]  # no docs fallback
    settings.OLLAMA_URL = "http://127.0.0.1:9"
    assert client.get("/assistant/api/health/").status_code == 200  # not known down yet
    breaker.failure("ollama:http://127.0.0.1:9")
    r = client.get("/assistant/api/health/")
    assert r.status_code == 503 and r.json()["can_answer"] is False
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    assert client.get("/assistant/api/health/").status_code == 200
