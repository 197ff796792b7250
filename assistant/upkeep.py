"""Services run by Celery beat: keep the model warm, prefetch common questions, purge logs."""

import logging
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.utils import timezone

from . import answer_cache, conf
from .answering.service import AnswerFailed, Question, answer_now
from .backends import REGISTRY, BackendError, RemoteBackend
from .backends.embedded import get_model
from .models import Audience, QueryLog
from .stats import top_questions_by_section

log = logging.getLogger(__name__)


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
                    visitor="prefetch",
                    endpoint="prefetch",
                    rate_limited=False,
                    logged=False,
                )
            )
            done += 1
        except AnswerFailed:
            failed += 1
    return {"answered": done, "skipped": skipped, "failed": failed}


def query_logs_purge(*, older_than_days: int | None = None) -> int:
    days = older_than_days or int(conf.get("HELP_LOG_RETENTION_DAYS"))
    deleted, _ = QueryLog.objects.filter(created__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
