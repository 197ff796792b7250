from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from assistant.helpdocs.selectors import docs_version_reset
from assistant.models import HelpDoc


@receiver(post_save, sender=HelpDoc)
@receiver(post_delete, sender=HelpDoc)
def helpdoc_changed(**kwargs) -> None:
    docs_version_reset()
