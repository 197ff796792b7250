"""Your help centre in one command: `import_docs --replace` makes the files the site's docs
(the demo's go, the admin's stay), shows each file as it goes with an estimate, survives
Ctrl-C with every doc whole, and leaves the embeddings to the worker or a background thread."""

import io
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant import tasks
from assistant.helpdocs import semantic
from assistant.models import HelpDoc
from assistant.ops import background

pytestmark = pytest.mark.django_db

CENTRE = Path(__file__).parent / "helpcentre"
CENTRE_DOCS = 6


@pytest.fixture
def centre(tmp_path) -> Path:
    return Path(shutil.copytree(CENTRE, tmp_path / "centre"))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _import(*args: str, out=None) -> tuple[str, str]:
    out, err = out or io.StringIO(), io.StringIO()
    call_command("import_docs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _demo_and_admin_docs() -> tuple[HelpDoc, HelpDoc]:
    call_command("load_demo_docs", stdout=io.StringIO())
    admin = HelpDoc.objects.create(title="Our opening hours", slug="hours", body="9 to 5.")
    edited = HelpDoc.objects.get(slug="refunds-internal")
    edited.body += "\n\nAsk Sam first."
    edited.save()
    return admin, edited


def test_replace_makes_the_files_the_sites_docs_and_keeps_the_admins(centre):
    admin, edited = _demo_and_admin_docs()
    out, err = _import(str(centre), "--replace")
    assert not err
    slugs = set(HelpDoc.objects.values_list("slug", flat=True))
    # The demo's docs are gone, but for the one edited in the admin; the admin's own stays.
    assert slugs - {"hours", "refunds-internal"} == {
        d.slug for d in HelpDoc.objects.filter(source__startswith=str(centre))
    }
    assert len(slugs) == CENTRE_DOCS + 2
    assert f"{CENTRE_DOCS} created" in out and "11 removed" in out
    assert "kept: demo:refunds-internal: 'refunds-internal' was edited in the admin" in out
    assert HelpDoc.objects.get(pk=admin.pk).body == "9 to 5."


def test_without_replace_the_files_join_the_demo_docs(centre):
    call_command("load_demo_docs", stdout=io.StringIO())
    out, _ = _import(str(centre))
    assert HelpDoc.objects.count() == 12 + CENTRE_DOCS and "removed" not in out


def test_replace_takes_over_a_demo_docs_slug_that_plain_import_leaves_alone(centre):
    call_command("load_demo_docs", stdout=io.StringIO())
    (centre / "clients.md").write_text("---\nslug: create-client\n---\n# Clients\n\nAdd one.\n")
    with pytest.raises(CommandError):
        _import(str(centre))
    assert HelpDoc.objects.get(slug="create-client").source == "demo:create-client"
    _import(str(centre), "--replace")
    doc = HelpDoc.objects.get(slug="create-client")
    assert doc.source == str(centre / "clients.md") and doc.title == "Clients"


@pytest.mark.parametrize("given", ["missing", "no-markdown"])
def test_nothing_to_import_is_one_error_and_the_site_is_left_as_it_was(tmp_path, given):
    call_command("load_demo_docs", stdout=io.StringIO())
    path = tmp_path / given
    if given == "no-markdown":
        path.mkdir()
        (path / "notes.txt").write_text("not Markdown")
    with pytest.raises(CommandError) as raised:
        _import(str(path), "--replace")
    message = str(raised.value)
    assert "\n" not in message
    assert ("no such file or folder" if given == "missing" else "no Markdown") in message
    assert HelpDoc.objects.count() == 12


def test_progress_is_a_line_per_file_with_an_estimate_in_a_log(centre):
    out, _ = _import(str(centre))
    lines = [line for line in out.splitlines() if " files" in line]
    assert len(lines) == CENTRE_DOCS
    assert lines[0].startswith(f"1/{CENTRE_DOCS} files, about ") and " s left: created " in lines[0]
    assert lines[-1].startswith(f"{CENTRE_DOCS}/{CENTRE_DOCS} files, ")


def test_progress_is_a_bar_redrawn_in_place_on_a_terminal(centre):
    out, _ = _import(str(centre), out=Terminal())
    frames = out.split("\r")[1:]
    assert len(frames) == CENTRE_DOCS
    assert frames[0].startswith("[####----") and f" 1/{CENTRE_DOCS} about " in frames[0]
    assert frames[-1].startswith("[" + "#" * 24 + "]")


def test_ctrl_c_leaves_every_doc_whole_and_a_rerun_carries_on(centre, monkeypatch):
    saves = []
    real_save = HelpDoc.save

    def interrupted_third_save(self, *args, **kwargs):
        saves.append(self.slug)
        if len(saves) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing a doc
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(HelpDoc, "save", interrupted_third_save)
    err = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("import_docs", str(centre), stdout=io.StringIO(), stderr=err)
    assert stopped.value.code == 130
    assert "interrupted after 2 of 6 files" in err.getvalue()
    kept = list(HelpDoc.objects.all())
    assert {d.slug for d in kept} == set(saves[:2])
    assert all(d.sections["sections"] for d in kept)  # whole: read into sections too

    monkeypatch.setattr(HelpDoc, "save", real_save)
    out, _ = _import(str(centre))
    assert "4 created, 0 updated, 2 unchanged" in out
    assert HelpDoc.objects.count() == CENTRE_DOCS


@pytest.mark.django_db(transaction=True)
def test_without_a_worker_embeddings_run_in_a_background_thread(settings, monkeypatch):
    """Tasks run eagerly (as under `make run`): the vectors are computed by a thread, and the
    caller does not wait for them."""
    settings.HELP_EMBED_IN_THREAD = True
    release, ran_in = threading.Event(), []

    def slow_embedding(doc_ids):
        ran_in.append(threading.current_thread().name)
        release.wait(10)
        return len(doc_ids)

    monkeypatch.setattr(semantic, "embed_docs", slow_embedding)
    started = time.monotonic()
    tasks.embed_docs.delay([1, 2])
    assert time.monotonic() - started < 1  # not waiting for the 10 s job
    assert not background.wait_idle(0.2)
    release.set()
    assert background.wait_idle(10)
    assert ran_in == ["assistant-background"]


def test_an_import_without_a_worker_leaves_the_embeddings_to_the_server(
    centre, settings, monkeypatch, django_capture_on_commit_callbacks
):
    asked = []
    monkeypatch.setattr(tasks.embed_docs, "delay", lambda ids: asked.append(ids))
    settings.HELP_EMBED_IN_THREAD = True
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _import(str(centre))
    assert not asked and "computed by the web server, in the background" in out
    settings.HELP_EMBED_IN_THREAD = False  # as with a worker: asked for, once, at the end
    (centre / "getting-started.md").write_text("# Getting started\n\nChanged.\n")
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _import(str(centre))
    assert len(asked) == 1 and "the Celery worker" in out
