from django.core.management.base import BaseCommand, CommandError

from assistant.helpdocs.importing import docs_import, files_in_paths
from assistant.models import Audience


class Command(BaseCommand):
    help = (
        "Sync folders (recursively) or files of Markdown help articles into the help docs: "
        "created, updated, unchanged, with --prune unpublished when their file is gone. Docs "
        "written or edited in the admin are never overwritten (reported as conflicts)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", help="Folders or .md/.mdx files.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Unpublish the docs imported from these paths earlier whose file is gone.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report, write nothing.")
        parser.add_argument(
            "--audience",
            default=Audience.PUBLIC,
            choices=Audience.values,
            help="For files whose front matter names none (default: public).",
        )
        parser.add_argument(
            "--language",
            default="",
            help="For files whose front matter names none (default: detected from each text).",
        )

    def handle(self, *args, **options) -> None:
        files, errors, scopes = files_in_paths(options["paths"])
        report = docs_import(
            files=files,
            errors=errors,
            scopes=scopes,
            audience=options["audience"],
            language=options["language"],
            prune=options["prune"],
            dry_run=options["dry_run"],
        )
        verbose = options["verbosity"] > 1
        for label in ("created", "updated", "unpublished") + (("unchanged",) if verbose else ()):
            for source in getattr(report, label):
                self.stdout.write(f"{label}: {source}")
        for source, why in report.conflicts:
            self.stderr.write(f"conflict: {source}: {why}")
        for source, why in report.errors:
            self.stderr.write(f"error: {source}: {why}")
        self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(
                f"{len(report.errors)} files could not be imported, "
                f"{len(report.conflicts)} conflicts"
            )
