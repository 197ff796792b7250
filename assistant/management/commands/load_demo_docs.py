import json
from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils import timezone

from assistant.models import HelpDoc

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_docs.json"
# Demo docs are stored as imported from here: `import_docs --replace` then replaces them as it
# replaces any imported doc (unless edited in the admin since).
SOURCE = "demo:"


class Command(BaseCommand):
    help = "Create or update the demo help docs (idempotent: matched by slug)."

    def handle(self, *args, **options) -> None:
        created = updated = 0
        for item in json.loads(FIXTURE.read_text(encoding="utf-8")):
            doc = HelpDoc.objects.filter(slug=item["slug"]).first()
            fields = {**item, "source": SOURCE + item["slug"]}
            if doc is None:
                doc = HelpDoc(published=True, **fields)
                created += 1
            elif any(getattr(doc, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(doc, k, v)
                updated += 1
            else:
                continue
            doc.source_hash = doc.content_hash()
            doc.imported_at = timezone.now()
            doc.save()
        self.stdout.write(f"demo docs: {created} created, {updated} updated")
