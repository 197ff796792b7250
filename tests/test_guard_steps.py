"""The guard checks what a step tells the reader to do: every UI label must be the passages'
own, and no sentence may say the opposite of them. Each form, English and French, fed in
awkward pieces as a model streams it."""

import pytest

from assistant.answering.grounding import Guard
from assistant.answering.prompt import build_prompt
from assistant.helpdocs.selectors import helpdoc_retrieve
from assistant.models import HelpDoc

pytestmark = pytest.mark.django_db

DOC = """To share a board, open **Boards** and click **Share board**. Choose who may see it, then
click **Send invites**.

Shared boards can no longer be renamed by guests. Archived boards are never deleted.

Owners can change this in **Settings → Sharing → Guest access**, or under Preferences > Team.
"""

DOC_FR = """Pour partager un tableau, ouvrez **Tableaux** et cliquez sur **Partager le tableau**.

Les invités ne peuvent pas renommer un tableau partagé. Les tableaux archivés ne sont jamais
supprimés. Réglez l'accès dans **Paramètres › Partage**.
"""


@pytest.fixture
def prompt(db):
    HelpDoc.objects.create(title="Sharing a board", slug="share-board", body=DOC)
    question = "How do I share a board and can guests rename it?"
    found = helpdoc_retrieve(query=question, path="/", audience="public")
    assert found.covered
    return build_prompt(question=question, path="/", hints="", retrieval=found)


@pytest.fixture
def prompt_fr(db):
    HelpDoc.objects.create(title="Partager un tableau", slug="partager", language="fr", body=DOC_FR)
    question = "comment partager un tableau, les invités peuvent-ils le renommer ?"
    found = helpdoc_retrieve(query=question, path="/", audience="public", language="fr")
    assert found.covered
    return build_prompt(
        question=question, path="/", hints="", retrieval=found, language="fr"
    )


def _check(prompt, text: str, pieces: int) -> tuple[str, dict]:
    guard = Guard(prompt)
    chunks = [text[i : i + pieces] for i in range(0, len(text), pieces)]
    out = "".join(guard.feed(c) for c in chunks) + guard.finish()
    return out.strip(), dict(guard.report.removed)


PIECES = [1, 3, 7, 1000]

WRONG_LABELS = [
    ("bold", "Open **Boards** and click **Share this board**."),
    ("double quotes", 'Open **Boards** and click "Share now".'),
    ("curly quotes", "Open **Boards** and click “Invite people”."),
    ("guillemets", "Open **Boards** and click «Share link»."),
    ("single quotes", "Open **Boards** and click 'Share link'."),
    ("backticks", "Open **Boards** and click `share-link`."),
    ("one word", 'Open **Boards** and click "Share".'),
    ("arrow path", "Owners change this in **Settings → Sharing → Visibility**."),
    ("ascii path", "Owners change this in Settings -> Guests -> Access."),
    ("angle path", "Owners change this under Preferences > Members."),
    ("guillemet path", "Owners change this in Settings › Permissions."),
]


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("form,text", WRONG_LABELS, ids=[w[0] for w in WRONG_LABELS])
def test_a_label_the_passages_do_not_have_drops_its_sentence(prompt, form, text, pieces):
    good = "To share a board, open **Boards** and click **Share board**."
    out, removed = _check(prompt, f"{good} {text}", pieces)
    assert out == good and removed == {"label": 1}, (form, out)


RIGHT_LABELS = [
    ("bold", "Open **Boards** and click **Share board**."),
    ("case and quotes", 'Open "boards" and click “SHARE BOARD”.'),
    ("plural", "Click **Send invite** once you chose."),
    ("backticks", "Open `Boards`, then click **Share board**."),
    ("menu path", "Owners change this in **Settings → Sharing → Guest access**."),
    ("plain path", "Owners change this in Settings → Sharing → Guest access."),
    ("angle path", "Owners can change this under Preferences > Team."),
    ("apostrophes are no quotes", "Open the board's menu in **Boards** and click **Share board**."),
]


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("form,text", RIGHT_LABELS, ids=[r[0] for r in RIGHT_LABELS])
def test_the_passages_own_labels_pass_whatever_their_form(prompt, form, text, pieces):
    out, removed = _check(prompt, text, pieces)
    assert out == text and not removed, (form, removed)


NEGATIONS = [
    ("not", "You can not share a board from **Boards**."),
    ("n't", "You can't share a board."),
    ("cannot", "You cannot share a board or choose who may see it."),
    ("never", "Boards are never shared with the people you choose."),
    ("no", "There is no way to share a board."),
    ("affirms a negation", "Guests can rename shared boards."),
    ("affirms a never", "Archived boards are deleted."),
]


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("form,text", NEGATIONS, ids=[n[0] for n in NEGATIONS])
def test_a_sentence_saying_the_opposite_of_the_docs_is_dropped(prompt, form, text, pieces):
    good = "To share a board, open **Boards** and click **Share board**."
    out, removed = _check(prompt, f"{good} {text}", pieces)
    assert out == good and removed == {"negation": 1}, (form, out)


AGREEING = [
    ("a negation the docs make", "Guests can no longer rename a shared board."),
    ("a never the docs say", "Archived boards are never deleted."),
    ("a label with a negation in it", "Choose who may see it, then click **Send invites**."),
]


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("form,text", AGREEING, ids=[a[0] for a in AGREEING])
def test_a_sentence_agreeing_with_the_docs_passes(prompt, form, text, pieces):
    good = "To share a board, open **Boards** and click **Share board**."
    out, removed = _check(prompt, f"{good} {text}", pieces)
    assert out == f"{good} {text}" and not removed, (form, removed)


def test_a_negation_label_is_a_name_not_a_negation(db):
    HelpDoc.objects.create(
        title="Leaving a board",
        slug="leave",
        body="To leave a board without saving, click **Don't save**, then **Close board**.",
    )
    q = "how do I leave a board without saving"
    found = helpdoc_retrieve(query=q, path="/", audience="public")
    prompt = build_prompt(question=q, path="/", hints="", retrieval=found)
    text = "Click **Don't save**, then **Close board** to leave the board."
    assert _check(prompt, text, 4) == (text, {})


FRENCH = [
    ("ne … pas", "Vous ne pouvez pas partager un tableau depuis Tableaux.", "negation"),
    ("n' … pas", "Un tableau n'est pas partagé quand vous cliquez.", "negation"),
    ("ne … jamais", "Vous ne partagez jamais un tableau depuis Tableaux.", "negation"),
    ("aucun", "Aucun tableau ne peut être partagé depuis **Tableaux**.", "negation"),
    ("affirms a negation", "Les invités peuvent renommer un tableau partagé.", "negation"),
    ("wrong label", "Ouvrez **Tableaux** et cliquez sur «Partager maintenant».", "label"),
    ("wrong path", "Réglez l'accès dans Paramètres › Invités.", "label"),
]


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("form,text,kind", FRENCH, ids=[f[0] for f in FRENCH])
def test_french_labels_and_negations(prompt_fr, form, text, kind, pieces):
    good = "Pour partager un tableau, ouvrez **Tableaux** et cliquez sur **Partager le tableau**."
    out, removed = _check(prompt_fr, f"{good} {text}", pieces)
    assert out == good and removed == {kind: 1}, (form, out, removed)


@pytest.mark.parametrize("pieces", [1, 1000])
def test_french_agreeing_sentences_pass(prompt_fr, pieces):
    text = (
        "Les invités ne peuvent pas renommer un tableau partagé. Les tableaux archivés ne sont "
        "jamais supprimés. Réglez l'accès dans **Paramètres › Partage**."
    )
    assert _check(prompt_fr, text, pieces) == (text, {})
