"""`manage.py import_docs` and the admin's zip import: an idempotent sync of a help centre, its
conflicts, and each kind of bad input as a clear per-file error that leaves the rest imported."""

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.helpdocs import selectors
from assistant.helpdocs import version as versions
from assistant.models import HelpDoc

pytestmark = pytest.mark.django_db

CENTRE = Path(__file__).parent / "helpcentre"
SLUGS = {
    "draft-notes",
    "getting-started",
    "shifts-swap",
    "shifts-time-off",
    "team-payroll-export",
    "team-roles",
}


@pytest.fixture
def centre(tmp_path) -> Path:
    """A copy of the synthetic help centre, free to change."""
    return Path(shutil.copytree(CENTRE, tmp_path / "centre"))


def _import(*args: str) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_docs", *args, stdout=out, stderr=err)
        status = 0
    except CommandError as exc:
        err.write(str(exc))
        status = 1
    return out.getvalue(), err.getvalue(), status


def test_a_help_centre_imports_as_docs_with_their_front_matter(centre):
    out, err, status = _import(str(centre))
    assert status == 0 and not err
    assert "6 created, 0 updated, 0 unchanged, 0 unpublished, 0 conflicts, 0 errors" in out
    docs = {d.slug: d for d in HelpDoc.objects.all()}
    assert set(docs) == SLUGS  # front matter id/slug, else the path
    started = docs["getting-started"]
    assert started.title == "Getting started with Rosterly"
    assert started.description == "Your first schedule in ten minutes."
    assert started.keywords == "onboarding, first steps"
    assert started.prefixes == ["/schedule/"]
    assert started.source == str(centre / "getting-started.md")
    assert started.source_hash == started.content_hash() and started.imported_at
    assert docs["team-roles"].audience == "authenticated"
    assert docs["draft-notes"].published is False  # draft: true
    assert docs["shifts-time-off"].title == "Requesting time off"  # TOML front matter


def test_importing_again_changes_nothing_and_keeps_the_docs_version(centre):
    _import(str(centre))
    version = selectors.docs_version()
    out, _, status = _import(str(centre))
    assert status == 0 and "0 created, 0 updated, 6 unchanged" in out
    versions._local_version = None
    assert selectors.docs_version() == version


def test_an_import_moves_the_docs_version_once(centre, monkeypatch):
    calls = []
    real = versions.docs_version_reset
    monkeypatch.setattr(versions, "docs_version_reset", lambda: calls.append(1) or real())
    _import(str(centre))
    assert len(calls) == 1


def test_a_changed_file_updates_its_doc(centre):
    _import(str(centre))
    path = centre / "shifts" / "time-off.md"
    path.write_text(path.read_text().replace("in days", "in hours"))
    out, _, status = _import(str(centre))
    assert status == 0 and "1 updated" in out and "5 unchanged" in out
    assert "in hours" in HelpDoc.objects.get(slug="shifts-time-off").body


def test_a_doc_edited_in_the_admin_is_a_conflict_not_overwritten(centre):
    _import(str(centre))
    doc = HelpDoc.objects.get(slug="team-roles")
    doc.body += "\nAn admin's note."
    doc.save()
    path = centre / "team" / "roles.md"
    path.write_text(path.read_text() + "\nA change in the file.\n")
    out, err, status = _import(str(centre))
    assert status == 1 and "1 conflicts" in out
    assert f"conflict: {path}: 'team-roles' was edited in the admin" in err
    assert "An admin's note." in HelpDoc.objects.get(slug="team-roles").body


def test_a_doc_written_in_the_admin_keeps_its_slug_against_an_import(centre):
    HelpDoc.objects.create(title="Ours", slug="getting-started", body="Written here.")
    out, err, status = _import(str(centre))
    assert status == 1 and "5 created" in out
    assert "'getting-started' is a doc written in the admin" in err
    assert HelpDoc.objects.get(slug="getting-started").body == "Written here."


def test_prune_unpublishes_the_docs_whose_file_is_gone_and_dry_run_writes_nothing(centre):
    out, _, _ = _import(str(centre), "--dry-run")
    assert "6 created" in out and "dry run" in out and not HelpDoc.objects.exists()
    _import(str(centre))
    (centre / "shifts" / "swap.mdx").unlink()
    out, _, status = _import(str(centre))
    assert status == 0 and HelpDoc.objects.get(slug="shifts-swap").published  # no --prune
    out, _, status = _import(str(centre), "--prune")
    assert status == 0 and "1 unpublished" in out
    assert HelpDoc.objects.get(slug="shifts-swap").published is False
    # The file back: the doc is published again, not a conflict.
    shutil.copy(CENTRE / "shifts" / "swap.mdx", centre / "shifts" / "swap.mdx")
    out, _, status = _import(str(centre), "--prune")
    assert status == 0 and "1 updated" in out
    assert HelpDoc.objects.get(slug="shifts-swap").published is True


def test_audience_and_language_defaults_apply_where_the_front_matter_is_silent(centre):
    _import(str(centre), "--audience", "staff", "--language", "fr")
    docs = {d.slug: d for d in HelpDoc.objects.all()}
    assert docs["shifts-time-off"].audience == "staff" and docs["shifts-time-off"].language == "fr"
    assert docs["team-roles"].audience == "authenticated" and docs["team-roles"].language == "en"


def test_each_bad_file_is_its_own_clear_error_and_the_rest_imports(centre, tmp_path, settings):
    bad = centre / "bad"
    bad.mkdir()
    (bad / "frontmatter.md").write_text("---\ntitle: [unclosed\n---\nBody.\n")
    (bad / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (bad / "latin1.md").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (bad / "huge.md").write_bytes(b"# Huge\n\n" + b"word " * (10 * 1024 * 1024 // 5))
    (bad / "types.md").write_text("---\npublished: maybe\n---\nBody.\n")
    (bad / "who.md").write_text("---\naudience: everyone\n---\nBody.\n")
    (centre / "other").mkdir()
    (centre / "other" / "dup.md").write_text("---\nslug: getting-started\n---\nA twin.\n")
    outside = tmp_path / "secret.md"
    outside.write_text("Outside the folder.")
    os.symlink(outside, bad / "link.md")
    out, err, status = _import(str(centre))
    assert status == 1
    assert "6 created" in out and "8 errors" in out
    lines = err.splitlines()
    for name, why in [
        ("bad/frontmatter.md", "malformed front matter"),
        ("bad/binary.md", "a binary file"),
        ("bad/latin1.md", "not UTF-8 text"),
        ("bad/huge.md", "larger than 1000000 bytes"),
        ("bad/types.md", "'published' must be true or false"),
        ("bad/who.md", "audience 'everyone' is not one of"),
        ("other/dup.md", "slug 'getting-started' is also"),
        ("bad/link.md", "outside"),
    ]:
        assert any(str(centre / name) in line and why in line for line in lines), (name, err)
    assert set(HelpDoc.objects.values_list("slug", flat=True)) == SLUGS  # nothing half-written
    assert "secret" not in "".join(HelpDoc.objects.values_list("body", flat=True))


def test_a_missing_path_is_an_error(tmp_path):
    _, err, status = _import(str(tmp_path / "nowhere"))
    assert status == 1 and "no such file or folder" in err


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "centre.zip"
    return buffer


def _staff(client, *perms: str):
    user = get_user_model().objects.create_user("editor", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client.force_login(user)


def test_the_admin_imports_an_uploaded_zip_and_refuses_unsafe_members(client):
    _staff(client, "add_helpdoc", "change_helpdoc")
    archive = _zip(
        {
            "guide/first.md": b"---\ntitle: First steps\n---\nOpen **Start**.\n",
            "../escape.md": b"Outside.",
            "/absolute.md": b"Rooted.",
            "bomb.md": b"0" * (50 * 1024 * 1024),
            "image.png": b"\x89PNG",
        }
    )
    r = client.post("/admin/assistant/helpdoc/import/", {"archive": archive, "language": "en",
                    "audience": "public"})  # fmt: skip
    page = r.content.decode()
    assert r.status_code == 200 and "1 created" in page and "3 errors" in page
    assert "zip:centre.zip/../escape.md: a path outside" in page
    assert "zip:centre.zip//absolute.md: a path outside" in page
    assert "zip:centre.zip/bomb.md: larger than" in page
    doc = HelpDoc.objects.get()
    assert doc.slug == "guide-first" and doc.source == "zip:centre.zip/guide/first.md"


def test_a_zip_bomb_under_the_size_limit_is_refused_by_its_ratio(client, settings):
    settings.HELP_IMPORT_MAX_BYTES = 100 * 1024 * 1024
    _staff(client, "add_helpdoc", "change_helpdoc")
    archive = _zip({"bomb.md": b"a" * (20 * 1024 * 1024), "ok.md": b"Fine."})
    page = client.post(
        "/admin/assistant/helpdoc/import/", {"archive": archive, "language": "en",
        "audience": "public"}  # fmt: skip
    ).content.decode()
    assert "bomb.md: compressed more than any text is" in page and "1 created" in page


def test_the_zip_import_needs_the_doc_permissions(client):
    _staff(client, "change_helpdoc")  # may edit docs, not add them
    r = client.post("/admin/assistant/helpdoc/import/", {"archive": _zip({"a.md": b"A."})})
    assert r.status_code == 403 and not HelpDoc.objects.exists()
    client.logout()
    r = client.get("/admin/assistant/helpdoc/import/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_a_broken_zip_is_an_error_not_a_500(client):
    _staff(client, "add_helpdoc", "change_helpdoc")
    broken = io.BytesIO(b"PK\x03\x04 not really a zip")
    broken.name = "broken.zip"
    r = client.post("/admin/assistant/helpdoc/import/", {"archive": broken, "language": "en",
                    "audience": "public"})  # fmt: skip
    assert r.status_code == 200 and "not a readable zip file" in r.content.decode()


def test_imported_sections_answer_with_links_that_land_on_them(centre, ask, client):
    _import(str(centre))
    body = ask({"question": "How do I approve a shift swap?", "path": "/"}).json()
    assert body["covered"] is True
    assert body["sources"][0] == {
        "title": "Swapping a shift › Approve a swap",
        "url": "/assistant/docs/shifts-swap/#approve",
    }
    assert body["answer"].startswith(
        "From [Swapping a shift › Approve a swap](/assistant/docs/shifts-swap/#approve):"
    )
    assert "Click **Approve swap** to confirm the trade" in body["answer"]
    page = client.get("/assistant/docs/shifts-swap/").content.decode()
    assert '<h2 id="approve">Approve a swap</h2>' in page


def test_the_docs_answer_quotes_the_steps_of_the_section_not_its_opening(centre, ask):
    _import(str(centre))
    answer = ask({"question": "how do I export the hours worked for payroll?", "path": "/"}).json()
    text = answer["answer"]
    assert "/assistant/docs/team-payroll-export/#export-hours-worked" in text
    assert "1. Open **Reports** and choose **Hours worked**." in text
    assert "3. Click **Export CSV**." in text
    for never in ("Export hours worked\n", "beta-note", "Unpaid breaks", "video"):
        assert never not in text


def test_the_imported_doc_page_links_its_sibling_files_and_shows_no_raw_html(centre, client):
    _import(str(centre))
    page = client.get("/assistant/docs/team-payroll-export/").content.decode()
    assert "<video" not in page and "export-note" not in page and "beta-note" not in page
    assert page.count("<h1") == 1
