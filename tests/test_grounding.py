"""The grounding guard against hostile model output, and end to end through the stream."""

import pytest

from assistant.answering.events import Token
from assistant.answering.grounding import Guard, GuardRejected, GuardReport, guarded
from tests.conftest import collect, sse_events

pytestmark = pytest.mark.django_db

GOOD = "Open **Clients** and click **New client**."


def _check(prompt, text: str, pieces: int = 1) -> tuple[str, GuardReport]:
    """Feed `text` in `pieces`-character chunks (awkward splits), as a model would stream it."""
    guard = Guard(prompt)
    chunks = [text[i : i + pieces] for i in range(0, len(text), pieces)]
    out = "".join(guard.feed(c) for c in chunks) + guard.finish()
    return out, guard.report


HOSTILE = [
    ("url", f"{GOOD} Then visit https://www.invocexplorer.com/en-us for details.", "link"),
    ("www", f"{GOOD} More at www.ledgerly-help.net/start now.", "link"),
    ("look-alike", f"{GOOD} Sign in again at ledgerly.com.evil.io/login please.", "link"),
    ("md link", f"{GOOD} See [the guide](https://evil.example/guide) for clients.", "link"),
    ("js link", f"{GOOD} See [the guide](javascript:alert(1)) for clients.", "link"),
    ("phone", f"{GOOD} Call +1 (555) 010-7788 to create a client.", "phone"),
    ("email", f"{GOOD} Write to help@ledgerly-support.com about clients.", "email"),
    ("price", f"{GOOD} Creating a client costs $9.99 per client.", "price"),
    ("figure", f"{GOOD} You can create 250 clients a day.", "number"),
    ("script", f"{GOOD} <script>document.write('x')</script> Click New client.", "markup"),
    ("delimiters", f"</docs> <page path=\"/settings\"> {GOOD}", "delimiter"),
    ("unsupported", f"{GOOD} The weather tomorrow will be sunny and warm.", "unsupported"),
]


@pytest.mark.parametrize("pieces", [1, 3, 7, 1000])
@pytest.mark.parametrize("label,text,kind", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_spans_never_reach_the_reader(grounded_prompt, label, text, kind, pieces):
    out, report = _check(grounded_prompt, text, pieces)
    assert GOOD in out  # the correct step still goes out
    for bad in (
        "http", "www.", "evil", "invocexplorer", "ledgerly-help", "555", "@", "9.99", "250",
        "<script", "document.write", "</docs>", "<page", "path=", "weather", "javascript",
    ):  # fmt: skip
        assert bad not in out, (label, out)
    assert report.removed[kind] >= 1


def test_a_markdown_link_to_another_site_keeps_its_text(grounded_prompt):
    text = f"{GOOD} Read [Creating a client](https://evil.example/x) first."
    out, _ = _check(grounded_prompt, text)
    assert out == f"{GOOD} Read Creating a client first."


def test_links_to_the_sources_and_the_sites_own_pages_stay(grounded_prompt):
    source = grounded_prompt.sources[0]["url"]
    text = f"See [the doc]({source}) or open [Clients](/clients/) and click **New client**."
    out, report = _check(grounded_prompt, text, pieces=4)
    assert out == text and not report.removed
    out, _ = _check(grounded_prompt, "Open [Clients](/no-such-page/) and click **New client**.")
    assert "/no-such-page/" not in out and "Clients" in out


def test_figures_from_the_passages_are_kept(demo_docs):
    from assistant.answering.prompt import build_prompt
    from assistant.helpdocs.selectors import helpdoc_retrieve

    q = "How many rows can I import from a csv?"
    found = helpdoc_retrieve(query=q, path="/clients/", audience="public")
    prompt = build_prompt(question=q, path="/clients/", hints="", retrieval=found)
    out, report = _check(prompt, "Up to 5,000 rows can be imported at once. Use 5000 rows.", 2)
    assert out == "Up to 5,000 rows can be imported at once. Use 5000 rows."
    assert not report.removed


def test_the_docs_list_numbers_are_not_figures_that_support_a_sentence(demo_docs):
    from assistant.answering.prompt import build_prompt
    from assistant.helpdocs.selectors import helpdoc_retrieve
    from assistant.models import HelpDoc

    HelpDoc.objects.create(
        title="Steps", slug="steps", body="1. Open **Team**.\n2. Click **Invite**.\n3. Done."
    )
    q = "how do I invite my team"
    found = helpdoc_retrieve(query=q, path="/", audience="public")
    prompt = build_prompt(question=q, path="/", hints="", retrieval=found)
    assert "2. Click **Invite**." in prompt.user
    out, report = _check(prompt, "Open **Team**. You can invite 2 people at once.", 3)
    assert out.strip() == "Open **Team**." and report.removed["number"] == 1


def test_numbered_steps_are_not_split_or_taken_for_figures(grounded_prompt):
    text = "1. Open **Clients**.\n2. Click **New client**.\n3. Click **Save client**."
    out, report = _check(grounded_prompt, text, pieces=2)
    assert out == text and not report.removed


def test_an_answer_whose_first_sentences_all_fail_is_rejected_early(grounded_prompt):
    consumed = []

    def model():
        for chunk in [
            "Call 0800 123 456 now. ",
            "Visit https://x.io today. ",
            *[f"{GOOD} "] * 50,
        ]:
            consumed.append(chunk)
            yield chunk

    async def tokens():
        for chunk in model():
            yield Token(chunk)

    report = GuardReport()
    with pytest.raises(GuardRejected):
        collect(guarded(tokens(), grounded_prompt, report))
    assert len(consumed) == 2  # the model was stopped, not read to the end
    assert report.removed["phone"] == 1 and report.removed["link"] == 1


HALLUCINATING = [
    "To create ", "a client, open ", "**Clients** and ", "click **New client**. ",
    "For help call ", "+1 (555) ", "010-7788 or ", "visit https://", "ledgerly-",
    "support.com/", "help. ",
    "You can also ", "email support@", "ledgerly.io. ",
    "<scr", "ipt>alert(1)</", "script> ", "</do", "cs>",
    " Then click \"Fi", "le\" -> \"New ", "customer\" in the ", "**Clients** menu. ",
    "Or open **Cli", "ents** and press **Add ", "client now**. ",
    "You cannot ", "create a client from ", "the **Clients** page. ",
]  # fmt: skip


def test_stream_endpoint_lets_the_correct_step_out_and_nothing_invented(ask, ollama, settings):
    ollama.reset(tokens=HALLUCINATING)
    settings.HELP_LOG_BATCH_SECONDS = 0
    r = ask(
        {"question": "How do I add a new customer?", "path": "/clients/"}, endpoint="help/stream"
    )
    events = sse_events(r.streamed)
    text = "".join(d["text"] for k, d in events if k == "token")
    assert "To create a client, open **Clients** and click **New client**." in text
    invented = ("555", "7788", "http", "support.com", "@", "ledgerly.io", "script", "alert")
    for bad in (*invented, "docs>"):
        assert bad not in text, text
    meta = next(d for k, d in events if k == "meta")
    assert meta["backend"] == "ollama" and meta["covered"] is True
    assert ollama.chat_calls == 1

    from assistant.models import QueryLog

    for wrong in ("File", "New customer", "Add client now", "cannot"):
        assert wrong not in text, text
    row = QueryLog.objects.get(id=meta["id"])
    assert row.guard_removed >= 5
    assert {"phone", "link", "email", "label", "negation"} <= set(row.guard_kinds)
    # and the statistics page shows it
    from datetime import timedelta

    from django.utils import timezone

    from assistant.querylog.stats import latency_stats

    guard = latency_stats(since=timezone.now() - timedelta(hours=1))["guard"]
    assert guard["answers"] == 1 and guard["removed"] == row.guard_removed
    assert {"phone", "link", "email", "label", "negation"} <= {k for k, _ in guard["by_kind"]}
    from assistant import metrics

    body, _ = metrics.render()
    for kind in ("label", "negation"):
        assert f'helpdesk_guard_removed_total{{kind="{kind}"}}' in body.decode()


def test_an_answer_the_guard_rejects_is_replaced_by_the_docs_answer(ask, ollama):
    ollama.reset(tokens=["Call ", "0800 123 ", "456. ", "Visit ", "evil.io ", "now. "] * 3)
    body = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
    assert body["backend"] == "docs" and body["covered"] is True
    assert "**New client**" in body["answer"] and "0800" not in body["answer"]


def test_an_off_topic_question_makes_no_upstream_call(ask, ollama):
    for endpoint in ("help", "help/stream"):
        r = ask({"question": "What is the weather tomorrow?", "path": "/"}, endpoint=endpoint)
        if endpoint == "help":
            body = r.json()
        else:
            events = sse_events(r.streamed)
            body = next(d for k, d in events if k == "meta")
            body["answer"] = "".join(d["text"] for k, d in events if k == "token")
        assert body["covered"] is False and body["backend"] == "docs"
        assert "don't cover" in body["answer"]
    assert ollama.chat_calls == 0


def test_not_covered_offers_at_most_two_related_docs(ask, demo_docs):
    body = ask({"question": "Write me a poem about invoices", "path": "/invoices/"}).json()
    assert body["covered"] is False
    assert 1 <= len(body["sources"]) <= 2
    assert body["answer"].count("](/assistant/docs/") == len(body["sources"])


def test_a_weak_match_on_a_common_word_is_not_coverage(ask, demo_docs):
    # "account" appears in the password doc; that is not a doc about bank connections.
    body = ask({"question": "How do I connect my bank account?", "path": "/settings/"}).json()
    assert body["covered"] is False
    assert "password" not in body["answer"].lower()


def test_the_docs_answer_is_one_docs_steps_with_its_labels_and_link(ask, demo_docs):
    body = ask({"question": "How do I add a new customer?", "path": "/clients/"}).json()
    answer = body["answer"]
    assert answer.startswith("From [Creating a client](/assistant/docs/create-client/):\n\n")
    assert "To create a client, open **Clients** in the top menu and click **New client**." in (
        answer
    )
    assert "**Save client**" in answer
    assert answer.count("From [") == 1  # one doc: the import doc is not clearly relevant
