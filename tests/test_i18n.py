"""The widget and the server speak the reader's language: English and French, from the app's
catalog (assistant/locale/, installed with it) and the demo's (locale/), both complete."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The app's texts travel in its package; the demo site's pages have their own catalog.
CATALOGS = {
    "assistant": ROOT / "assistant" / "locale" / "fr" / "LC_MESSAGES",
    "demo": ROOT / "locale" / "fr" / "LC_MESSAGES",
}

pytestmark = pytest.mark.django_db


@pytest.mark.timeout(120)
def test_makemessages_finds_nothing_untranslated(tmp_path):
    """On a copy of the project, so that the catalog stays as committed."""
    if not shutil.which("xgettext"):
        if os.environ.get("CI"):
            pytest.fail("make test installs GNU gettext; xgettext is missing")
        pytest.skip("no xgettext")
    for name in ("assistant", "helpdesk", "templates", "static", "locale", "manage.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-location"],
        cwd=tmp_path,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk.settings", "DEBUG": "1"},
        check=True,
        capture_output=True,
    )
    for folder in CATALOGS.values():
        copied = tmp_path / folder.relative_to(ROOT) / "django.po"
        catalog = polib.pofile(str(copied))
        untranslated = [e.msgid for e in catalog.untranslated_entries() + catalog.fuzzy_entries()]
        assert not untranslated, (folder, untranslated)
        assert not catalog.obsolete_entries(), [e.msgid for e in catalog.obsolete_entries()]


@pytest.mark.parametrize("name, at_least", [("assistant", 70), ("demo", 30)])
def test_the_compiled_catalog_is_the_catalog(name, at_least):
    folder = CATALOGS[name]
    source = {e.msgid: e.msgstr for e in polib.pofile(str(folder / "django.po")) if e.msgid}
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(folder / "django.mo")) if e.msgid}
    assert compiled == source
    assert len(source) >= at_least


def test_the_widget_texts_are_in_the_apps_own_catalog():
    """A site that installs the app gets the widget in French without the demo's catalog."""
    app = {e.msgid for e in polib.pofile(str(CATALOGS["assistant"] / "django.po"))}
    assert {"Ask", "Help assistant", "Was this helpful?", "Updated %(date)s"} <= app


def _french(client):
    client.cookies["django_language"] = "fr"


def test_the_widget_texts_come_in_the_pages_language(client, demo_docs):
    english = client.get("/invoices/").content.decode()
    _french(client)
    french = client.get("/invoices/").content.decode()
    assert '<html lang="en">' in english and '<html lang="fr">' in french

    def texts(page: str) -> dict:
        block = page.split('<script id="helpdesk-widget-texts" type="application/json">')[1]
        return json.loads(block.split("</script>")[0])

    assert texts(english)["ask"] == "Ask" and texts(french)["ask"] == "Demander"
    assert texts(french)["ahead_many"] == "{n} questions avant la vôtre…"
    assert 'data-lang="fr"' in french and "Tableau de bord" in french


def test_server_texts_come_in_the_questions_language(ask, demo_docs):
    body = ask({"question": "comment créer une facture", "path": "/invoices/"}).json()
    assert body["answer"].startswith("D'après [Créer et envoyer une facture]")
    body = ask({"question": "quel temps fera-t-il demain ?", "path": "/"}).json()
    assert body["answer"].startswith("L'aide ne couvre pas encore cette question.")
    body = ask({"question": "How do I create an invoice?", "path": "/invoices/"}).json()
    assert body["answer"].startswith("From [Creating and sending an invoice]")


def test_a_question_that_doesnt_say_its_language_takes_the_pages(ask, client, demo_docs):
    _french(client)
    body = ask({"question": "weather?", "path": "/"}).json()
    assert body["answer"].startswith("L'aide ne couvre pas encore cette question.")


def test_errors_come_in_the_pages_language(ask, client, demo_docs, settings):
    _french(client)
    r = ask({"path": "/"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "« question » est obligatoire."
    settings.HELP_RATE_LIMIT = "1/60"
    ask({"question": "comment créer une facture", "path": "/invoices/"})
    settings.ASSISTANT_BACKENDS = ["ollama", "docs"]
    settings.OLLAMA_URL = "http://127.0.0.1:9"
    r = ask({"question": "comment envoyer une facture au client", "path": "/invoices/"})
    assert r.status_code in (200, 429)
    if r.status_code == 429:
        assert r.json()["error"]["message"].startswith("Trop de questions")


def test_a_stream_that_ends_in_an_error_says_so_in_the_questions_language():
    from assistant.answering.events import interrupted, unavailable

    message = interrupted("fr").message
    assert message == "La réponse a été interrompue. Posez à nouveau votre question."
    assert unavailable("en").message == "No answer could be produced right now."


def test_sources_in_another_language_only_where_the_readers_has_none(ask, demo_docs):
    english = ask({"question": "How do I send payment reminders?", "path": "/invoices/"}).json()
    assert english["sources"] and all(
        "relances-paiement" not in s["url"] for s in english["sources"]
    )
    # No French doc on exporting: the English one is the reader's best, and is given.
    french = ask({"question": "comment exporter mes factures en PDF", "path": "/invoices/"}).json()
    assert french["sources"][0]["url"] == "/assistant/docs/export-invoices/"
    assert french["answer"].startswith("D'après [Exporting invoices to PDF]")


def test_the_demo_sites_language_switch(client):
    page = client.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'lang="fr"' in page
    r = client.post("/i18n/setlang/", {"language": "fr", "next": "/clients/"})
    assert r.status_code == 302 and r["Location"] == "/clients/"
    assert "Tableau de bord" in client.get("/clients/").content.decode()
