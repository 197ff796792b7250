import json
from pathlib import Path

from django.core.management.base import BaseCommand

from assistant.models import HelpDoc

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_docs.json"


class Command(BaseCommand):
    help = "Create or update the demo help docs (idempotent: matched by slug)."

    def handle(self, *args, **options) -> None:
        created = updated = 0
        for item in json.loads(FIXTURE.read_text(encoding="utf-8")):
            doc = HelpDoc.objects.filter(slug=item["slug"]).first()
            if doc is None:
                HelpDoc.objects.create(published=True, **item)
                created += 1
            elif any(getattr(doc, k) != v for k, v in item.items()):
                for k, v in item.items():
                    setattr(doc, k, v)
                doc.save()
                updated += 1
        self.stdout.write(f"demo docs: {created} created, {updated} updated")
