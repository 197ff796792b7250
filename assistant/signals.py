from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from assistant.helpdocs import semantic
from assistant.helpdocs.importing import in_import
from assistant.helpdocs.version import docs_version_reset
from assistant.models import HelpDoc


@receiver(post_save, sender=HelpDoc)
@receiver(post_delete, sender=HelpDoc)
def helpdoc_changed(sender, instance: HelpDoc, **kwargs) -> None:
    """A doc changed: the docs' version moves on (an import moves it once, at its end), and
    the doc's sections are embedded once the change commits."""
    if in_import():
        return
    docs_version_reset()
    if kwargs.get("created") is not None:  # saved, not deleted
        from assistant import tasks

        transaction.on_commit(lambda: tasks.embed_docs.delay([instance.pk]))


@receiver(semantic.vectors_wanted)
def vectors_wanted(sender, doc_ids: list[int], **kwargs) -> None:
    """Retrieval lacks these docs' vectors: the worker embeds them (eagerly under make run)."""
    from assistant import tasks

    tasks.embed_docs.delay(doc_ids)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def user_deleted(sender, instance, **kwargs) -> None:
    """A reader's right to erasure: their questions and votes go with their account."""
    from assistant.querylog.records import visitor_rows_delete

    visitor_rows_delete(user_pk=instance.pk)
