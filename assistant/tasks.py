"""Celery tasks: thin wrappers around the upkeep services (scheduled in settings)."""

from celery import shared_task

from assistant.helpdocs import semantic
from assistant.ops import upkeep


@shared_task(ignore_result=True, expires=120)
def warm_up() -> dict:
    return upkeep.model_warm_up()


@shared_task(ignore_result=True, expires=600)
def prefetch_common_questions(limit: int = 20) -> dict:
    return upkeep.prefetch_common_questions(limit=limit)


@shared_task(ignore_result=True, expires=600)
def roll_up_query_logs() -> dict:
    return upkeep.query_logs_roll_up()


@shared_task(ignore_result=True)
def purge_old_query_logs() -> int:
    return upkeep.query_logs_purge()


@shared_task(ignore_result=True)
def embed_docs(doc_ids: list[int]) -> int:
    """Compute the vectors of these docs' sections once they changed (not per question)."""
    return semantic.embed_docs(doc_ids)
