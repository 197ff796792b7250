"""Celery tasks: thin wrappers around the upkeep services (scheduled in settings)."""

from celery import Task, shared_task

from assistant.helpdocs import semantic
from assistant.ops import background, upkeep


class WorkerOrThread(Task):
    """Sent to the worker when there is one; else run by a thread of this process
    (assistant.ops.background), never inline in the request or the import that asked."""

    def apply_async(self, args=None, kwargs=None, **options):
        if background.wanted(self.app):
            background.submit(self.run, *(args or ()), **(kwargs or {}))
            return None
        return super().apply_async(args, kwargs, **options)


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


@shared_task(base=WorkerOrThread, ignore_result=True)
def embed_docs(doc_ids: list[int]) -> int:
    """Compute the vectors of these docs' sections once they changed (not per question)."""
    return semantic.embed_docs(doc_ids)
