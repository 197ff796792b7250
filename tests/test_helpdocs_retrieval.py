"""Retrieval on sections: the prompt and the docs answer hold the section that answers, meaning
ranks where words fail, and the sections' vectors are computed when docs change, never per
question."""

from pathlib import Path

import pytest
from django.core.management import call_command

from assistant.answering.prompt import build_prompt
from assistant.backends.docs import docs_answer
from assistant.helpdocs import selectors, semantic
from assistant.helpdocs import version as versions
from assistant.models import HelpDoc, SectionVector

pytestmark = pytest.mark.django_db

CENTRE = Path(__file__).parent / "helpcentre"

LONG = """---
title: Moving your workspace
---

## Before you move

{intro}

## Move a workspace

Moving keeps your schedules and your team. Follow these steps:

1. Open **Settings** and choose **Workspace**.
2. Click **Move workspace** and pick the new region.
3. Confirm with your password. Everyone is signed out once.

{outro}
"""


@pytest.fixture
def long_doc(db):
    filler = " ".join(["Plans change and teams grow over the years, as they always do."] * 12)
    HelpDoc.objects.create(
        title="Moving your workspace",
        slug="move-workspace",
        body=LONG.format(intro=filler, outro=filler),
    )


def _prompt(question: str, path: str = "/"):
    found = selectors.helpdoc_retrieve(query=question, path=path, audience="public")
    return build_prompt(question=question, path=path, hints="", retrieval=found)


def test_the_prompt_carries_the_heading_path_and_the_steps_within_budget(long_doc, settings):
    settings.HELP_MAX_DOCS_CHARS = 300
    prompt = _prompt("how do I move a workspace to another region?")
    docs = prompt.user.split("<docs>\n")[1].split("\n</docs>")[0]
    assert docs.startswith("[Moving your workspace › Move a workspace]\n")
    assert "2. Click **Move workspace** and pick the new region." in docs
    assert "Follow these steps:" in docs  # the line that introduces the steps
    assert "Plans change" not in docs and len(docs) <= 300
    assert prompt.sources[0]["url"] == "/assistant/docs/move-workspace/#move-a-workspace"


def test_the_docs_answer_and_the_prompt_hold_the_same_passage(long_doc, settings):
    settings.HELP_MAX_DOCS_CHARS = 300
    prompt = _prompt("how do I move a workspace to another region?")
    answer = docs_answer(prompt)
    assert answer.startswith(
        "From [Moving your workspace › Move a workspace]"
        "(/assistant/docs/move-workspace/#move-a-workspace):\n\nMoving keeps your schedules and "
        "your team. Follow these steps:\n\n1. Open"
    )
    assert "2. Click **Move workspace** and pick the new region." in answer


@pytest.fixture
def centre(db):
    call_command("import_docs", str(CENTRE), stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_meaning_finds_the_section_where_a_word_of_the_question_is_not_the_docs(
    centre, monkeypatch
):
    asked = []
    real = semantic.query_vector
    monkeypatch.setattr(semantic, "query_vector", lambda q: asked.append(q) or real(q))
    # "coworker": the docs say "team members"; the rest is theirs.
    found = selectors.helpdoc_retrieve(
        query="trade my shift with a coworker", path="/", audience="public"
    )
    # Not a sure answer (the docs never say "coworker"), yet not a refusal: it may help.
    assert found.coverage == "maybe"
    assert found.sections[0].url.startswith("/assistant/docs/shifts-swap/")
    assert asked == ["trade my shift with a coworker"]


def test_words_alone_without_the_model(centre, settings, monkeypatch):
    settings.HELP_EMBEDDINGS = "off"
    selectors._indexes.clear()
    monkeypatch.setattr(semantic, "query_vector", lambda q: pytest.fail("no model asked"))
    assert selectors.index_for("public").vectors is None
    found = selectors.helpdoc_retrieve(query="approve a shift swap", path="/", audience="public")
    assert found.covered and found.sections[0].title == "Swapping a shift › Approve a swap"


def test_a_question_its_first_section_holds_word_for_word_asks_no_model(centre, monkeypatch):
    monkeypatch.setattr(semantic, "query_vector", lambda q: pytest.fail("no model asked"))
    found = selectors.helpdoc_retrieve(
        query="how do I approve a swap", path="/", audience="public"
    )
    assert found.covered and found.sections[0].title == "Swapping a shift › Approve a swap"


@pytest.fixture
def breaks(db, monkeypatch, django_capture_on_commit_callbacks):
    """A doc of one section saved (its embedding task run once the save commits), and the
    sizes of the embedding calls made since this process forgot every vector."""
    embedded: list[int] = []
    real = semantic._embed
    monkeypatch.setattr(semantic, "_embed", lambda t: embedded.append(len(t)) or real(t))
    monkeypatch.setattr(semantic, "_memo", {})
    with django_capture_on_commit_callbacks(execute=True):
        doc = HelpDoc.objects.create(
            title="Breaks", slug="breaks", body="## Paid breaks\n\nBreaks under 20 minutes are paid"
        )
    return doc, embedded


def test_sections_are_embedded_once_when_docs_change_never_per_question(
    breaks, django_capture_on_commit_callbacks
):
    doc, embedded = breaks
    assert embedded == [1]  # the task, after the save committed
    assert SectionVector.objects.filter(key=semantic.key_of(
        semantic.section_text("Breaks › Paid breaks", "Breaks under 20 minutes are paid")
    )).exists()  # fmt: skip
    for question in ("are breaks paid", "how long is a paid break", "coffee breaks"):
        selectors.helpdoc_retrieve(query=question, path="/", audience="public")
    assert embedded == [1]  # questions embed themselves only, never the docs
    # The same text in another doc (or the same doc saved again) is not embedded again.
    with django_capture_on_commit_callbacks(execute=True):
        doc.save()
    assert embedded == [1]


def test_the_task_stores_what_the_database_lacks_even_when_its_process_remembers_it(
    breaks, monkeypatch
):
    """Another worker reads the vectors from the database (and counts them in the docs'
    version): a vector this process holds from a save that never committed is stored by the
    task, without embedding it again, and the version moves."""
    doc, embedded = breaks
    assert embedded == [1]
    SectionVector.objects.all().delete()  # as a rolled-back transaction leaves them
    before = selectors.docs_version()
    semantic.embed_docs([doc.pk])
    assert SectionVector.objects.count() == 1 and embedded == [1]
    monkeypatch.setattr(versions, "_local_version", None)  # (this process's 1 s memo)
    assert selectors.docs_version() != before  # the shared version moved


def test_a_common_word_of_the_docs_does_not_cover_for_a_rare_one(centre):
    # "shift" is everywhere in this help centre; "tax" nowhere.
    found = selectors.helpdoc_retrieve(
        query="tax on my shift wages", path="/", audience="public"
    )
    assert found.covered is False


def test_the_articles_opening_gives_way_to_the_section_that_answers(centre):
    found = selectors.helpdoc_retrieve(
        query="export the hours worked for payroll", path="/", audience="public"
    )
    assert found.sections[0].title == "Exporting hours for payroll › Export hours worked"
