"""Importing a help centre as it is written: folders (or a .zip) of Markdown files synced into
HelpDoc, idempotently.

Each file becomes one doc; its front matter gives the title, slug, description, keywords,
audience, language, page paths and published state, under the names Docusaurus, MkDocs, Hugo
and Jekyll use (`id`, `draft`, `lang`…); the rest of their conventions (`sidebar_position`,
`weight`, `menu`…) are ignored. A doc that an import wrote and nobody edited since is updated
when its file changes, left alone when it doesn't, unpublished by `prune` when its file is
gone, and removed by `replace` when another import wrote it (the demo's docs included). A doc
written (or edited) in the admin is never overwritten: the file is reported as a conflict. A
file that can't be read is a clear error naming it, and the rest still imports; each doc is
written whole or not at all (and committed as it is: an interrupted import keeps what it
wrote), and the docs' version changes once per run.
"""

import contextvars
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.text import slugify

from assistant import conf
from assistant.helpdocs import parsing
from assistant.models import Audience, HelpDoc

MARKDOWN_SUFFIXES = (".md", ".mdx", ".markdown")
_SKIPPED_DIRS = {".git", "node_modules", ".docusaurus", "_site", "public", "build"}
# A zip's members: how many, how much they may unpack to in all, and the largest ratio of a
# member's size to its compressed size (text compresses about 3-10 times; bombs, thousands).
ZIP_MAX_MEMBERS = 10_000
ZIP_MAX_TOTAL_BYTES = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100


@dataclass(frozen=True)
class SourceFile:
    source: str  # where it came from, as stored on the doc: a path, or zip:<name>/<member>
    relative: str  # its path under the folder (or zip) it was found in: the slug's default
    data: bytes


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # by `replace`
    kept: list[tuple[str, str]] = field(default_factory=list)  # (source, why) `replace` kept
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    dry_run: bool = False
    replace: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.conflicts)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.unpublished)} unpublished, "
            + (f"{len(self.removed)} removed, " if self.replace else "")
            + f"{len(self.conflicts)} conflicts, {len(self.errors)} errors"
            + (" (dry run: nothing written)" if self.dry_run else "")
        )


class FileError(ValueError):
    """One file can't be imported; the message says why."""


# --- finding the files ---------------------------------------------------------------------
def _max_bytes() -> int:
    return int(conf.get("HELP_IMPORT_MAX_BYTES"))


def _checked(data: bytes) -> bytes:
    if len(data) > _max_bytes():
        raise FileError(f"larger than {_max_bytes()} bytes")
    return data


def files_in_paths(paths: list[str]) -> tuple[list[SourceFile], list[tuple[str, str]], list[str]]:
    """The Markdown files under `paths` (folders, recursively, or single files): the files,
    the errors (source, why), and the scopes a prune looks in."""
    files: list[SourceFile] = []
    errors: list[tuple[str, str]] = []
    scopes: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            errors.append((given, "no such file or folder"))
            continue
        root = path.resolve()
        if path.is_file():
            scopes.append(str(root))
            candidates = [path]
            base = path.parent
        else:
            scopes.append(str(root) + os.sep)
            candidates = sorted(_markdown_under(path))
            base = path
        for candidate in candidates:
            source = str(candidate.absolute())
            try:
                real = candidate.resolve()
                if path.is_dir() and not real.is_relative_to(root):
                    raise FileError(f"a link to {real}, outside {root}")
                if real.stat().st_size > _max_bytes():
                    raise FileError(f"larger than {_max_bytes()} bytes")
                data = _checked(real.read_bytes())
            except FileError as exc:
                errors.append((source, str(exc)))
                continue
            except OSError as exc:
                errors.append((source, f"can't be read: {exc.strerror or exc}"))
                continue
            relative = candidate.relative_to(base).as_posix()
            files.append(SourceFile(source, relative, data))
    return files, errors, scopes


def _markdown_under(folder: Path) -> Iterator[Path]:
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in names:
            if name.lower().endswith(MARKDOWN_SUFFIXES) and not name.startswith("."):
                yield Path(current) / name


def files_in_zip(upload: BinaryIO, name: str) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """The Markdown members of a zip: unsafe paths, oversized or bomb-like members are errors
    naming the member; the rest are read (never past the size limit, whatever the member's
    header claims)."""
    prefix = f"zip:{name}/"
    files: list[SourceFile] = []
    errors: list[tuple[str, str]] = []
    try:
        archive = zipfile.ZipFile(upload)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [], [(f"zip:{name}", f"not a readable zip file: {exc}")]
    if len(members) > ZIP_MAX_MEMBERS:
        return [], [(f"zip:{name}", f"more than {ZIP_MAX_MEMBERS} entries")]
    total = 0
    with archive:
        for member in members:
            entry = member.filename
            if member.is_dir() or not entry.lower().endswith(MARKDOWN_SUFFIXES):
                continue
            source = prefix + entry
            parts = PurePosixPath(entry.replace("\\", "/")).parts
            try:
                if entry.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", entry):
                    raise FileError("a path outside the zip's folder")
                if member.file_size > _max_bytes():
                    raise FileError(f"larger than {_max_bytes()} bytes")
                if member.file_size > 1_000_000 and (
                    member.file_size > ZIP_MAX_RATIO * max(member.compress_size, 1)
                ):
                    raise FileError("compressed more than any text is: refused as a zip bomb")
                with archive.open(member) as stream:
                    data = _checked(stream.read(_max_bytes() + 1))
                total += len(data)
                if total > ZIP_MAX_TOTAL_BYTES:
                    raise FileError(f"the zip unpacks to more than {ZIP_MAX_TOTAL_BYTES} bytes")
            except FileError as exc:
                errors.append((source, str(exc)))
                continue
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                errors.append((source, f"can't be read: {exc}"))
                continue
            files.append(SourceFile(source, "/".join(parts), data))
    return files, errors


# --- one file as a doc ------------------------------------------------------------------------
_DEFAULT_NAMES = {"index", "_index", "readme"}


def _text_of(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise FileError("a binary file, not Markdown")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 text (byte {exc.start})") from exc


def _slug_from_path(relative: str) -> str:
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if len(parts) > 1 and parts[-1].lower() in _DEFAULT_NAMES:
        parts.pop()
    return slugify("-".join(parts))[:200]


def _as_list(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise FileError(f"front matter '{name}' must be a list or a comma-separated text")


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise FileError(f"front matter '{name}' must be true or false")


def doc_fields(file: SourceFile, *, audience: str, language: str) -> dict:
    """The HelpDoc fields a file gives; raises FileError."""
    try:
        meta, body = parsing.split_front_matter(_text_of(file.data))
    except parsing.FrontMatterError as exc:
        raise FileError(str(exc)) from exc
    parsed = parsing.read(body)
    stem = PurePosixPath(file.relative).stem
    title = str(meta.get("title") or parsed.title or stem.replace("-", " ").replace("_", " "))
    slug_source = str(meta.get("slug") or meta.get("id") or "").strip("/").replace("/", "-")
    slug = slugify(slug_source)[:200] if slug_source else _slug_from_path(file.relative)
    if not slug:
        raise FileError("no slug: give the file a name or a 'slug' in its front matter")
    audience = str(meta.get("audience") or audience)
    if audience not in Audience.values:
        raise FileError(f"audience '{audience}' is not one of {', '.join(Audience.values)}")
    published = _flag(meta["published"], "published") if "published" in meta else True
    if "draft" in meta and _flag(meta["draft"], "draft"):
        published = False
    lang = str(meta.get("language") or meta.get("lang") or meta.get("locale") or language)
    return {
        "title": title.strip()[:200],
        "slug": slug,
        "description": str(meta.get("description") or "").strip()[:500],
        "keywords": ", ".join(_as_list(meta.get("keywords"), "keywords"))[:500],
        "body": body.strip() + "\n",
        "path_prefixes": "\n".join(_as_list(meta.get("paths"), "paths")),
        "audience": audience,
        "language": lang.split("-")[0].split("_")[0].lower()[:10],
        "published": published,
    }


# --- the sync -------------------------------------------------------------------------------
_in_import: contextvars.ContextVar[bool] = contextvars.ContextVar("in_import", default=False)


def in_import() -> bool:
    """True while an import writes: the per-save signal leaves the version to the import."""
    return _in_import.get()


@contextmanager
def _importing() -> Iterator[None]:
    token = _in_import.set(True)
    try:
        yield
    finally:
        _in_import.reset(token)


# Told after each file: (files done, files in all, the file's source, what became of it).
Progress = Callable[[int, int, str, str], None]


def docs_import(
    *,
    files: list[SourceFile],
    errors: list[tuple[str, str]] | None = None,
    scopes: list[str] | None = None,
    audience: str = Audience.PUBLIC,
    language: str = "en",
    prune: bool = False,
    replace: bool = False,
    dry_run: bool = False,
    embed: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Sync `files` into HelpDoc (see the module's docstring). `errors`: files already found
    unreadable; `scopes`: where `prune` looks for docs whose file is gone. `replace`: the
    files become the site's docs — imported docs (the demo's included) that are not among them
    are removed, unless edited in the admin since; docs written in the admin stay. Each file
    commits on its own, so an interrupted import keeps what it wrote and a rerun carries on.
    `embed`: ask for the changed sections' vectors at the end (the worker, or a thread)."""
    from assistant.helpdocs.version import docs_version_reset

    report = ImportReport(errors=list(errors or []), dry_run=dry_run, replace=replace)
    seen = {source for source, _ in report.errors}
    changed: list[int] = []
    slugs: dict[str, str] = {}
    ordered = sorted(files, key=lambda f: f.source)
    try:
        with _importing():
            for number, file in enumerate(ordered, 1):
                seen.add(file.source)
                outcome = _import_file(file, report, slugs, changed, audience, language, replace)
                if progress:
                    progress(number, len(ordered), file.source, outcome)
            if prune:
                for doc in _gone(scopes or [], seen):
                    with transaction.atomic():
                        doc.published = False
                        doc.source_hash = doc.content_hash()  # the import's doing, not an edit
                        doc.save(update_fields=["published", "source_hash", "updated"])
                        transaction.set_rollback(dry_run)
                    report.unpublished.append(doc.source)
                    changed.append(doc.pk)
            if replace:
                _replace_the_rest(seen, report, dry_run)
    finally:  # an interrupted import too: what it wrote is served (and embedded) from now on
        if (changed or report.removed) and not dry_run:
            docs_version_reset()
            if embed and changed:
                transaction.on_commit(lambda: _embed_later(changed))
    return report


def _import_file(file, report, slugs, changed, audience, language, replace) -> str:
    """One file, written whole or not at all; returns what became of it."""
    try:
        fields = doc_fields(file, audience=audience, language=language)
        if fields["slug"] in slugs:
            raise FileError(f"slug '{fields['slug']}' is also {slugs[fields['slug']]}'s")
        slugs[fields["slug"]] = file.source
        with transaction.atomic():
            outcome, doc = _sync_one(file, fields, replace=replace)
            transaction.set_rollback(report.dry_run)
    except FileError as exc:
        report.errors.append((file.source, str(exc)))
        return "error"
    except DatabaseError as exc:
        report.errors.append((file.source, f"could not be written: {exc}"))
        return "error"
    if outcome == "conflict":
        report.conflicts.append((file.source, doc))
        return outcome
    getattr(report, outcome).append(file.source)
    if outcome in ("created", "updated") and not report.dry_run:
        changed.append(doc.pk)
    return outcome


def _sync_one(file: SourceFile, fields: dict, *, replace: bool) -> tuple[str, HelpDoc | str]:
    doc = HelpDoc.objects.select_for_update().filter(slug=fields["slug"]).first()
    if doc is None:
        doc = HelpDoc(**fields, source=file.source)
        return "created", _written(doc)
    if not doc.source:
        return "conflict", f"'{doc.slug}' is a doc written in the admin: left as it is"
    edited = doc.content_hash() != doc.source_hash
    if doc.source != file.source and (edited or not replace):
        hint = "" if edited else " (--replace makes this file's the doc)"
        return "conflict", f"'{doc.slug}' was imported from {doc.source}: left as it is{hint}"
    if edited:
        return "conflict", f"'{doc.slug}' was edited in the admin since its import: left as it is"
    taken_over, doc.source = doc.source != file.source, file.source
    for name, value in fields.items():
        setattr(doc, name, value)
    if doc.content_hash() == doc.source_hash and not taken_over:
        return "unchanged", doc
    return "updated", _written(doc)


def _replace_the_rest(seen: set[str], report: ImportReport, dry_run: bool) -> None:
    """Remove the imported docs (the demo's included) this import didn't write, except those
    edited in the admin since their import; docs written in the admin have no source."""
    for doc in HelpDoc.objects.exclude(source="").order_by("source"):
        if doc.source in seen:
            continue
        if doc.content_hash() != doc.source_hash:
            report.kept.append((doc.source, f"'{doc.slug}' was edited in the admin: kept"))
            continue
        if not dry_run:
            doc.delete()
        report.removed.append(doc.source)


def _written(doc: HelpDoc) -> HelpDoc:
    doc.source_hash = doc.content_hash()
    doc.imported_at = timezone.now()
    try:
        doc.full_clean(exclude=["sections"], validate_unique=False)
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise FileError(problems) from exc
    doc.save()
    return doc


def _gone(scopes: list[str], seen: set[str]) -> list[HelpDoc]:
    """Published docs imported from within `scopes` whose file this run didn't see."""
    out = []
    for scope in scopes:
        docs = HelpDoc.objects.filter(published=True)
        docs = docs.filter(source__startswith=scope) if scope.endswith(("/", os.sep)) else (
            docs.filter(source=scope)
        )
        out += [doc for doc in docs if doc.source not in seen]
    return out


def _embed_later(doc_ids: list[int]) -> None:
    from assistant.helpdocs.semantic import ask_for_vectors

    ask_for_vectors(doc_ids)
