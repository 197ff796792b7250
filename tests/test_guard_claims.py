"""The guard judges claims, not surface forms: answers that say what the passages say, in the
ways instruction-tuned models write, reach the reader whole and sentence by sentence; what
they invent still does not. Each answer is streamed word by word through `guarded`, as a
backend's tokens are."""

import re

import pytest

from assistant.answering.events import Token
from assistant.answering.grounding import GuardRejected, GuardReport, guarded
from assistant.answering.prompt import build_prompt
from assistant.helpdocs.selectors import helpdoc_retrieve
from assistant.models import HelpDoc
from tests.conftest import collect

pytestmark = pytest.mark.django_db

# A help centre that is none of the demo's: the rules must hold for any site's docs.
DOCS = {
    "send-invoice": (
        "Sending an invoice",
        "Open **Invoices** and choose an invoice. Press Send. The client receives a PDF by email.",
    ),
    "delete-client": (
        "Deleting a client",
        "To delete a client, open the client and choose **Delete**. Clients with invoices can "
        "only be archived.",
    ),
    "currency": (
        "Default currency",
        "Under **Settings → Company** you can set the default currency that new quotes and "
        "invoices use. Sent invoices can no longer be edited.",
    ),
    "forgot-password": (
        "Forgotten password",
        "On the login page, choose **Forgot password**. You get an email with a link that "
        "stays valid for one hour.",
    ),
}


@pytest.fixture
def docs(db):
    for slug, (title, body) in DOCS.items():
        HelpDoc.objects.create(title=title, slug=slug, body=body)


def _prompt(question: str):
    found = helpdoc_retrieve(query=question, path="/", audience="public")
    assert found.covered, question
    return build_prompt(question=question, path="/", hints="", retrieval=found)


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text)


def _stream(prompt, text: str) -> tuple[str, GuardReport]:
    """`text` as a model streams it, through the guard: what the reader gets (GuardRejected
    when the guard hands the answer to the docs)."""

    async def model():
        for word in _words(text):
            yield Token(word)

    report = GuardReport()
    out = collect(guarded(model(), prompt, report))
    return "".join(t.text for t in out).strip(), report


FAITHFUL = [
    # one-word labels written plainly, capitalised as the docs write them
    ("plain labels", "How do I send an invoice?",
     "Open Invoices. Choose an invoice. Press Send. The client receives a PDF by email."),
    # an opener, and a label written plainly
    ("opener", "I forgot my password",
     "No problem! On the login page, choose Forgot password. You get an email with a link that "
     "stays valid for one hour."),
    # "Yes." first, the sentence it answers after it
    ("yes first", "Can I set a default currency?",
     "Yes. Under **Settings → Company** you can set the default currency that new quotes and "
     "invoices use."),
    # a restriction the doc states, restated as what it rules out
    ("caveat", "How do I delete a client?",
     "Open the client and choose **Delete**. Note that a client who has invoices can't be "
     "deleted; it can only be archived."),
    # small talk around it
    ("small talk", "How do I send an invoice?",
     "Sure! Great question! Open **Invoices**, choose an invoice and press Send. Hope this "
     "helps!"),
]  # fmt: skip


@pytest.mark.parametrize("style,question,answer", FAITHFUL, ids=[f[0] for f in FAITHFUL])
def test_a_faithful_answer_reaches_the_reader_whole(docs, style, question, answer):
    out, report = _stream(_prompt(question), answer)
    assert out == answer and not report.removed, (style, out, report.removed)


def test_small_talk_alone_is_no_answer(docs):
    with pytest.raises(GuardRejected):
        _stream(_prompt("How do I send an invoice?"), "Sure! Happy to help! Hope this helps!")


INVENTED = [
    # a plain label after a verb that works a control, which the docs don't have
    ("plain label", "How do I send an invoice?", "Press Send All.", "label"),
    ("plain label, more words", "How do I send an invoice?", "Choose Export Invoice.", "label"),
    # the restriction itself denied
    ("restriction denied", "How do I delete a client?", "Clients with invoices can't be archived.",
     "negation"),
    # a "Yes." where the docs say no
    ("wrong yes", "Can sent invoices be edited?", "Yes.", "negation"),
]  # fmt: skip


@pytest.mark.parametrize("kind,question,added,removed", INVENTED, ids=[i[0] for i in INVENTED])
def test_what_the_passages_do_not_say_is_still_stopped(docs, kind, question, added, removed):
    good = "Open **Invoices** and choose an invoice."
    if "client" in question:
        good = "To delete a client, open the client and choose **Delete**."
    if "edited" in question:
        good = "Sent invoices can no longer be edited."
    out, report = _stream(_prompt(question), f"{good} {added}" if added != "Yes." else
                          f"{added} {good}")  # fmt: skip
    assert out == good and report.removed == {removed: 1}, (kind, out, report.removed)


def test_a_no_that_agrees_with_the_docs_goes_out_with_its_sentence(docs):
    prompt = _prompt("Can sent invoices be edited?")
    answer = "No. Sent invoices can no longer be edited."
    assert _stream(prompt, answer) == (answer, GuardReport(kept_sentences=1, talk_sentences=1))


def test_a_bound_is_no_negation(demo_docs):
    found = helpdoc_retrieve(query="How many rows can I import?", path="/", audience="public")
    prompt = build_prompt(
        question="How many rows can I import?", path="/", hints="", retrieval=found
    )
    answer = "You can import no more than 5,000 rows at once."
    assert _stream(prompt, answer)[0] == answer


def test_a_checked_sentence_goes_out_before_the_models_next_token(docs):
    """Nothing waits for the end of the generation: each sentence reaches the reader as soon
    as its last word has come, before the model's next token is read."""
    prompt = _prompt("How do I send an invoice?")
    words = _words("Open Invoices. Choose an invoice. Press Send. The client receives a PDF.")
    order = []

    async def model():
        for i, word in enumerate(words):
            order.append(("model", i))
            yield Token(word)

    async def read():
        async for item in guarded(model(), prompt, GuardReport()):
            order.append(("reader", item.text.strip()))

    collect_order = order
    from asgiref.sync import async_to_sync

    async_to_sync(read)()
    assert collect_order[:3] == [("model", 0), ("model", 1), ("reader", "Open Invoices.")]
    sentences = [e[1] for e in order if e[0] == "reader"]
    assert sentences == [
        "Open Invoices.", "Choose an invoice.", "Press Send.", "The client receives a PDF."
    ]  # fmt: skip


def test_a_yes_waits_for_the_sentence_it_answers(docs):
    prompt = _prompt("Can I set a default currency?")
    order = []
    words = _words("Yes. Under **Settings → Company** you can set the default currency.")

    async def model():
        for i, word in enumerate(words):
            order.append(("model", i))
            yield Token(word)

    async def read():
        async for item in guarded(model(), prompt, GuardReport()):
            order.append(("reader", item.text))

    from asgiref.sync import async_to_sync

    async_to_sync(read)()
    assert order[-1] == ("reader", " ".join(w.strip() for w in words))
    assert [e for e in order if e[0] == "reader"] == [order[-1]]


def test_the_guard_gives_up_within_the_first_two_sentences(docs):
    """An answer whose first two claims name nothing of the passages is handed to the docs
    answer at its second sentence, not at the end of the generation (small talk does not
    count); the model is not read further."""
    prompt = _prompt("How do I send an invoice?")
    words = _words("Sure! Invoices are sent. Great question! An invoice is sent. " * 1)
    words += _words("Open **Invoices** and choose an invoice. ") * 20
    read = []

    async def model():
        for word in words:
            read.append(word)
            yield Token(word)

    report = GuardReport()
    with pytest.raises(GuardRejected):
        collect(guarded(model(), prompt, report))
    assert "".join(read).strip() == "Sure! Invoices are sent. Great question! An invoice is sent."
    assert report.removed == {"unspecific": 1}
