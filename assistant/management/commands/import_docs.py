import sys
import time

from django.core.management.base import BaseCommand, CommandError

from assistant import tasks
from assistant.helpdocs.importing import MARKDOWN_SUFFIXES, docs_import, files_in_paths
from assistant.models import Audience
from assistant.ops import background


class Command(BaseCommand):
    help = (
        "Sync folders (recursively) or files of Markdown help articles into the help docs: "
        "created, updated, unchanged, with --prune unpublished when their file is gone, with "
        "--replace the site's only imported docs. Docs written or edited in the admin are never "
        "overwritten (reported as conflicts). Stopped, it keeps what it wrote: run it again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", help="Folders or .md/.mdx files.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Unpublish the docs imported from these paths earlier whose file is gone.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Make these files the site's docs: remove the docs imported earlier (the "
            "demo's included) that are not among them. Docs written in the admin, and imported "
            "docs edited there since, stay.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report, write nothing.")
        parser.add_argument(
            "--audience",
            default=Audience.PUBLIC,
            choices=Audience.values,
            help="For files whose front matter names none (default: public).",
        )
        parser.add_argument(
            "--language", default="en", help="For files whose front matter names none."
        )

    def handle(self, *args, **options) -> None:
        files, errors, scopes = files_in_paths(options["paths"])
        if not files:
            # Before anything is written: --replace with no files would empty the site.
            why = "; ".join(f"{source}: {reason}" for source, reason in errors)
            raise CommandError(why or f"no Markdown ({', '.join(MARKDOWN_SUFFIXES)}) there")
        # Without a worker the vectors would be computed by a thread of this command, which
        # ends with it: the server's index asks for them instead, in its own background thread.
        embed_here = background.wanted(tasks.embed_docs.app)
        bar = ProgressReport(self.stdout, total=len(files), tty=self.stdout.isatty())
        try:
            report = docs_import(
                files=files,
                errors=errors,
                scopes=scopes,
                audience=options["audience"],
                language=options["language"],
                prune=options["prune"],
                replace=options["replace"],
                dry_run=options["dry_run"],
                embed=not embed_here,
                progress=bar.file_done,
            )
        except KeyboardInterrupt:
            bar.close()
            self.stderr.write(
                f"interrupted after {bar.done} of {len(files)} files: each doc is whole; "
                "run the same command again to carry on"
            )
            sys.exit(130)
        bar.close()
        verbose = options["verbosity"] > 1
        labels = ("created", "updated", "unpublished", "removed")
        for label in labels + (("unchanged",) if verbose else ()):
            for source in getattr(report, label):
                self.stdout.write(f"{label}: {source}")
        for source, why in report.kept:
            self.stdout.write(f"kept: {source}: {why}")
        for source, why in report.conflicts:
            self.stderr.write(f"conflict: {source}: {why}")
        for source, why in report.errors:
            self.stderr.write(f"error: {source}: {why}")
        self.stdout.write(report.summary())
        if (report.created or report.updated) and not options["dry_run"]:
            self.stdout.write(
                "the sections' vectors (matching by meaning) are computed by "
                + ("the web server, in the background" if embed_here else "the Celery worker")
                + "; until then answers rank sections by their words"
            )
        if report.failed:
            raise CommandError(
                f"{len(report.errors)} files could not be imported, "
                f"{len(report.conflicts)} conflicts"
            )


class ProgressReport:
    """Each file as it is done, with an estimate of the time left: a bar redrawn in place on
    a terminal, a plain line per file in a log."""

    WIDTH = 24

    def __init__(self, out, *, total: int, tty: bool) -> None:
        self.out, self.total, self.tty = out, total, tty
        self.done = 0
        self.started = time.monotonic()

    def file_done(self, done: int, total: int, source: str, outcome: str) -> None:
        self.done = done
        elapsed = time.monotonic() - self.started
        left = elapsed / done * (total - done)
        estimate = f"about {left:.0f} s left" if done < total else f"{elapsed:.1f} s"
        if self.tty:
            filled = self.WIDTH * done // total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            name = source if len(source) <= 40 else "…" + source[-39:]
            self.out.write(f"\r[{bar}] {done}/{total} {estimate}  {name:<40}", ending="")
            self.out.flush()
        else:
            self.out.write(f"{done}/{total} files, {estimate}: {outcome} {source}")

    def close(self) -> None:
        if self.tty and self.done:
            self.out.write("")  # the line after the bar
