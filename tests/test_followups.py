"""A conversation, not a search box: a follow-up is resolved into a standalone question from
the server's own record of the earlier turn, before retrieval, coverage and the cache key."""

import json
import math
from types import SimpleNamespace

import pytest

from assistant.answering.followups import MARGIN, Turn, choose, resolve
from assistant.helpdocs.coverage import decide
from assistant.helpdocs.selectors import Retrieval
from assistant.models import QueryLog
from tests.conftest import sse_events

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "follow_up,earlier,resolved",
    [
        ("and how do I delete one?", "How do I add a new customer?",
         "How do I delete the customer?"),
        ("can it repeat every month?", "How do I create a recurring invoice?",
         "Can a recurring invoice repeat every month?"),
        ("and how do I export them?", "How do I create invoices?", "How do I export the invoices?"),
        ("what about the password?", "How do I change my email?", "How do I change the password?"),
        ("and how long does it last?", "How do I mute someone?", "How long does the mute last?"),
        ("and delete?", "How do I add a new customer?", "Delete the customer?"),
        ("comment la supprimer ?", "Comment créer une facture ?",
         "Comment supprimer une facture ?"),
        ("et comment l'envoyer ?", "Comment créer une facture ?", "Comment envoyer une facture ?"),
        ("et pour imprimer une étiquette ?", "Comment créer une expédition ?",
         "Imprimer une étiquette (une expédition) ?"),
        ("and for polls?", "How many characters can a post have?",
         "How many characters can a post have (polls)?"),
    ],
)  # fmt: skip
def test_a_question_leaning_on_the_earlier_turn_is_resolved(follow_up, earlier, resolved):
    out = resolve(follow_up, Turn(earlier, [{"title": "T", "url": "/assistant/docs/x/#a"}]))
    assert out.question == resolved and out.follow_up
    assert out.prior_sections == ("/assistant/docs/x/#a",)


@pytest.mark.parametrize(
    "question,earlier",
    [
        ("enable 2FA", "How do I add a new client?"),
        ("How do I export invoices to PDF?", "How do I add a new customer?"),
        ("comment changer mon mot de passe", "Comment créer une facture ?"),
        ("where do I set the invoice number prefix", "How do I send payment reminders?"),
    ],
)
def test_a_question_naming_its_own_topic_carries_nothing(question, earlier):
    out = resolve(question, Turn(earlier))
    assert out.question == question and not out.follow_up and not out.prior_sections


def test_a_first_question_stands_alone():
    assert resolve("and how do I delete one?", None).question == "and how do I delete one?"


# --- the readings ranked on the docs' evidence (a retrieval stand-in: its confidence per
# reading, and the question's own words in its best section) --------------------------------
EARLIER = Turn("I forgot my password", [{"title": "Reset", "url": "/assistant/docs/pw/"}])


def _retrieve(confidence: dict[str, float], asked: list, sections: dict | None = None):
    """A retrieval stand-in: each question's confidence, and its best section's doc and the
    question's words it holds (the question alone's topic: email, never, got)."""

    def retrieve(question: str, prior: tuple[str, ...]) -> Retrieval:
        asked.append((question, prior))
        doc, words = (sections or {}).get(question, ("email", "email got never"))
        url = f"/assistant/docs/{doc}/"
        best = SimpleNamespace(matched=frozenset(words.split()), passage=SimpleNamespace(url=url))
        return Retrieval(
            hits=[best],
            coverage=decide(confidence[question]),
            topic=frozenset({"email", "never", "got"}),
            confidence=confidence[question],
        )

    return retrieve


JOINED = "I never got the email (forgot my password)"


def _likelier(p: float, log_odds: float) -> float:
    """The probability whose log-odds are `log_odds` above p's."""
    return 1 / (1 + (1 - p) / p * math.exp(-log_odds))


@pytest.mark.parametrize(
    "alone,joined,joined_section,follow_up",
    [
        (0.2, 0.8, ("email", "email got never"), True),
        (0.9, 0.6, ("pw", "email got never"), False),
        (0.6, _likelier(0.6, MARGIN / 2), ("email", "email got never"), False),
        (0.9, _likelier(0.9, MARGIN * 1.1), ("email", "email got never"), True),
        (0.6, 0.6, ("pw", "email got"), True),
        (0.6, 0.6, ("pw", "got"), False),
    ],
    ids=[
        "clearly better as a follow-up",
        "a switch",
        "as good alone",
        "clearly better near 1",
        "as good, in the earlier answer's doc",
        "as good, in the earlier doc by the earlier words",
    ],
)
def test_a_question_without_a_cue_leans_on_the_earlier_turn_only_on_evidence(
    alone, joined, joined_section, follow_up
):
    asked: list = []
    confidence = {"I never got the email": alone, JOINED: joined}
    retrieve = _retrieve(confidence, asked, {JOINED: joined_section})
    out, retrieval = choose("I never got the email", EARLIER, retrieve)
    assert out.follow_up is follow_up and retrieval.confidence == (joined if follow_up else alone)
    assert out.question == (JOINED if follow_up else "I never got the email")
    assert out.prior_sections == (("/assistant/docs/pw/",) if follow_up else ())
    # Only the server's record is carried: the earlier sections, as the follow-up's prior.
    assert asked == [("I never got the email", ()), (JOINED, ("/assistant/docs/pw/",))]


def test_a_pronoun_favours_the_follow_up_unless_alone_is_clearly_better():
    earlier = Turn("How do I bill a client every month automatically?")
    ruled = "How do I make the bill stop?"
    joined = "How do I make it stop (bill a client every month automatically)?"
    for alone, by_rules, by_joining, expected in [
        (0.5, 0.5, 0.4, ruled),  # as well supported: the pronoun decides
        (0.3, 0.4, 0.8, joined),  # the rules' rewrite is not the best follow-up reading
        (0.9, 0.5, 0.5, None),  # the question alone is clearly better supported
    ]:
        confidence = {"how do I make it stop?": alone, ruled: by_rules, joined: by_joining}
        out, _ = choose("how do I make it stop?", earlier, _retrieve(confidence, []))
        assert out.question == (expected or "how do I make it stop?")


def _turn(ask, question: str, path: str = "/invoices/", **extra) -> dict:
    return ask({"question": question, "path": path}, **extra).json()


def _after(ask, earlier: tuple[str, str], question: str, path: str = "/invoices/", **extra):
    """`question` asked with one earlier turn: (its question as the client says it, its id)."""
    history = [{"question": earlier[0], "id": earlier[1]}]
    return ask({"question": question, "path": path, "history": history}, **extra)


def test_a_follow_up_is_answered_from_the_doc_it_needs(ask, demo_docs):
    first = _turn(ask, "How do I create an invoice?")
    body = _after(ask, ("How do I create an invoice?", first["id"]), "and how do I send it?").json()
    assert body["resolved"] == "How do I send an invoice?"
    assert body["covered"] and body["sources"][0]["url"] == "/assistant/docs/create-invoice/"
    assert "**Send invoice**" in body["answer"]
    row = QueryLog.objects.get(id=body["id"])
    assert row.question == "and how do i send it" and row.follow_up
    assert row.resolved == "How do I send an invoice?"


def test_a_french_follow_up(ask, demo_docs):
    first = _turn(ask, "comment créer une facture")
    body = _after(ask, ("comment créer une facture", first["id"]), "et comment l'envoyer ?").json()
    assert body["resolved"] == "Comment envoyer une facture ?"
    assert body["sources"][0]["url"] == "/assistant/docs/creer-facture/"
    assert "**Send invoice**" in body["answer"]


def test_the_earlier_turn_is_the_servers_record_not_the_clients_text(ask, demo_docs):
    first = _turn(ask, "How do I create an invoice?")
    # The client claims another earlier question: the server's own record counts.
    claimed = ("How do I add a new client?", first["id"])
    body = _after(ask, claimed, "and how do I send it?").json()
    assert body["resolved"] == "How do I send an invoice?"


@pytest.mark.parametrize("whose", ["another visitor's", "unknown", "not an id"])
def test_turns_the_server_did_not_issue_to_this_reader_are_ignored(ask, demo_docs, whose):
    first = _turn(ask, "How do I create an invoice?", REMOTE_ADDR="10.9.9.9")
    answer_id = {
        "another visitor's": first["id"],
        "unknown": "0b7e6a43-9a3c-4b2e-8f0a-5d1c2b3a4f5e",
        "not an id": "x' OR 1=1 --",
    }[whose]
    r = _after(ask, ("How do I create an invoice?", answer_id), "and how do I send it?")
    assert r.status_code == 200 and r.json()["resolved"] == "and how do I send it?"
    assert QueryLog.objects.get(id=r.json()["id"]).follow_up is False


def test_a_topic_switch_carries_nothing(ask, demo_docs):
    first = _turn(ask, "How do I add a new client?", path="/clients/")
    earlier = ("How do I add a new client?", first["id"])
    body = _after(ask, earlier, "How do I change my password?", path="/settings/").json()
    assert body["resolved"] == "How do I change my password?"
    assert body["sources"][0]["url"].startswith("/assistant/docs/password-security/")


def test_a_follow_up_without_a_cue_takes_the_earlier_topic_when_the_docs_support_it(ask, demo_docs):
    # Alone, "my address on each page" reads as the invoice's own address (creating one);
    # after a question on PDF exports, the export doc answers it.
    first = _turn(ask, "export invoices to pdf")
    earlier = ("export invoices to pdf", first["id"])
    body = _after(ask, earlier, "where does my address on each page come from").json()
    assert (
        body["resolved"] == "Where does my address on each page come from (export invoices to pdf)"
    )
    assert body["sources"][0]["url"].startswith("/assistant/docs/export-invoices/")
    assert QueryLog.objects.get(id=body["id"]).follow_up


def test_a_switch_without_a_cue_carries_nothing(ask, demo_docs):
    first = _turn(ask, "export invoices to pdf")
    body = _after(ask, ("export invoices to pdf", first["id"]), "import clients from a csv file")
    assert body.json()["resolved"] == "import clients from a csv file"
    assert body.json()["sources"][0]["url"].startswith("/assistant/docs/import-clients/")
    assert QueryLog.objects.get(id=body.json()["id"]).follow_up is False


def test_an_off_topic_question_after_a_turn_is_not_answered_by_the_earlier_doc(ask, demo_docs):
    # Joined with "create an invoice", the invoice doc would match half its words: it holds
    # none of the question's own.
    first = _turn(ask, "How do I create an invoice?")
    body = _after(ask, ("How do I create an invoice?", first["id"]), "who won the football match")
    assert body.json()["resolved"] == "who won the football match"
    assert body.json()["coverage"] == "none"


def test_a_follow_up_the_docs_answer_as_well_alone_stays_alone(ask, demo_docs, recording):
    # Joined with "create an invoice" it finds the same doc, no surer: nothing is carried.
    first = _turn(ask, "How do I create an invoice?")
    earlier = ("How do I create an invoice?", first["id"])
    body = _after(ask, earlier, "how do I send payment reminders?").json()
    assert body["resolved"] == "how do I send payment reminders?"
    assert body["sources"][0]["url"].startswith("/assistant/docs/payment-reminders/")
    # Nothing of the earlier turn reaches the model either.
    assert len(recording.prompts) == 2 and "<conversation>" not in recording.prompts[-1].user


def test_a_follow_up_resolving_to_an_answered_question_is_a_cache_hit(ask, demo_docs):
    _turn(ask, "How do I send an invoice?")
    first = _turn(ask, "How do I create an invoice?")
    body = _after(ask, ("How do I create an invoice?", first["id"]), "and how do I send it?").json()
    assert body["cached"] is True and body["resolved"] == "How do I send an invoice?"


def test_coverage_and_the_rate_limit_use_the_resolved_question(ask, demo_docs, settings):
    first = _turn(ask, "How do I add a new customer?", path="/clients/")
    settings.HELP_RATE_LIMIT = "0/60"  # any model call would be refused
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    earlier = ("How do I add a new customer?", first["id"])
    body = _after(ask, earlier, "and how do I delete one?", path="/clients/")
    # "How do I delete the customer?": no doc covers deleting clients, so no model call and
    # nothing counted; the honest answer.
    assert body.status_code == 200
    assert body.json()["resolved"] == "How do I delete the customer?"
    assert body.json()["covered"] is False


def test_the_prompt_carries_the_earlier_question_and_its_headings(
    ask, demo_docs, settings, recording
):
    settings.ASSISTANT_BACKENDS = ["docs"]
    first = _turn(ask, "How do I create an invoice?")
    settings.ASSISTANT_BACKENDS = ["recording", "docs"]
    _after(ask, ("How do I create an invoice?", first["id"]), "and how do I send it?")
    user = recording.prompts[-1].user
    conversation = user.split("<conversation>\n")[1].split("\n</conversation>")[0]
    assert conversation == (
        "Earlier question: How do I create an invoice?\nIts docs: Creating and sending an "
        "invoice; Exporting invoices to PDF"
    )
    assert "<question>\nHow do I send an invoice?\n</question>" in user
    assert user.index("</page>") < user.index("<conversation>") < user.index("<question>")


def test_the_stream_meta_says_what_was_understood(ask, demo_docs):
    first = _turn(ask, "How do I create an invoice?")
    earlier = ("How do I create an invoice?", first["id"])
    r = _after(ask, earlier, "and how do I send it?", endpoint="help/stream")
    meta = next(d for k, d in sse_events(r.streamed) if k == "meta")
    assert meta["resolved"] == "How do I send an invoice?"


@pytest.mark.parametrize(
    "history,message",
    [
        ([{"question": "q", "id": "a"}] * 4, "at most 3 turns"),
        ([{"question": "x" * 501, "id": "a"}], "longer than 500"),
        ({"question": "q", "id": "a"}, "must be a list"),
        (["q"], "must be an object"),
        ([{"question": "q", "id": 7}], "must be strings"),
        ("and then?", "must be a list"),
    ],
)
def test_a_bad_history_is_a_400(ask, demo_docs, history, message):
    r = ask({"question": "how do I send it?", "path": "/", "history": history})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and message in error["message"]


def test_follow_ups_are_counted_on_the_statistics_page(ask, demo_docs, admin_client):
    first = _turn(ask, "How do I create an invoice?")
    _after(ask, ("How do I create an invoice?", first["id"]), "and how do I send it?")
    page = admin_client.get("/admin/assistant/querylog/stats/").content.decode()
    assert "follow-ups 1 (50 %)" in page
    assert json.loads(json.dumps(QueryLog.objects.filter(follow_up=True).count())) == 1
