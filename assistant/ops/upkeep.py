"""Services run by Celery beat: keep the model warm, prefetch common questions, roll up and
purge the query log."""

import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.utils import timezone

from assistant import conf
from assistant.answering import answer_cache
from assistant.answering.service import AnswerFailed, Question, answer_now
from assistant.backends import REGISTRY, BackendError, RemoteBackend
from assistant.backends.embedded import get_model
from assistant.models import Audience, QueryLog
from assistant.querylog import rollups
from assistant.querylog.stats import top_questions_by_section
from assistant.web.visitors import Visitor

log = logging.getLogger(__name__)

# The prefetch task asks as nobody in particular (it is neither logged nor rate limited).
PREFETCH = Visitor("prefetch", ("prefetch",), "prefetch")


def model_warm_up() -> dict:
    """Load each configured model: every host of the remote backends in the chain (Ollama
    with an empty chat carrying the same options and keep_alive as real questions, so it
    stays loaded; an OpenAI-compatible server with a one-token completion), the embedded
    model in this process."""
    report: dict = {}
    chain = conf.backends()
    for backend in REGISTRY.values():
        if backend.name in chain and isinstance(backend, RemoteBackend):
            report.update(backend.warm_up())
    if "embedded" in chain and REGISTRY["embedded"].configured():
        try:
            get_model()
            report["embedded"] = "loaded"
        except BackendError as exc:
            report["embedded"] = f"failed: {exc}"
    log.info("warm-up: %s", report)
    return report


def prefetch_common_questions(*, limit: int = 20, hours: int = 24) -> dict:
    """Answer the most asked questions of the last `hours`, per page section, into the server
    cache for anonymous readers, skipping those still cached. At most `limit` questions."""
    since = timezone.now() - timedelta(hours=hours)
    done = skipped = failed = 0
    for question, path in top_questions_by_section(since=since, limit=limit):
        key = answer_cache.cache_key(question=question, path=path, audience=Audience.PUBLIC)
        if answer_cache.get(key):
            skipped += 1
            continue
        try:
            async_to_sync(answer_now)(
                Question(
                    question=question,
                    path=path,
                    hints="",
                    user=None,
                    visitor=PREFETCH,
                    endpoint="prefetch",
                    rate_limited=False,
                    logged=False,
                )
            )
            done += 1
        except AnswerFailed:
            failed += 1
    return {"answered": done, "skipped": skipped, "failed": failed}


def query_logs_roll_up() -> dict:
    """Write the daily rollups the statistics page reads (assistant.querylog.rollups)."""
    return rollups.roll_up()


# Rows deleted per statement: each delete is its own short transaction, so the purge never
# holds a long lock on the log that every answer writes to.
PURGE_BATCH = 5000


def query_logs_purge(*, older_than_days: int | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete the log rows (and rollups) older than HELP_LOG_RETENTION_DAYS, in batches."""
    days = older_than_days or int(conf.get("HELP_LOG_RETENTION_DAYS"))
    cutoff = timezone.now() - timedelta(days=days)
    old = QueryLog.objects.filter(created__lt=cutoff)
    deleted = 0
    while ids := list(old.order_by("created").values_list("pk", flat=True)[:batch]):
        deleted += QueryLog.objects.filter(pk__in=ids).delete()[0]
    rollups.purge(timezone.localtime(cutoff).date())
    return deleted
