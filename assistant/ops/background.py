"""Tasks with no Celery worker to go to — no broker (a site without Celery), or tasks run
eagerly (`make run`) — run in one thread of this process, a job at a time, so that neither the
request nor the import that asked for them waits (the sections' embeddings: a minute for a few
hundred sections). Until a job is done, what it computes is simply not there yet (answers rank
sections by their words)."""

import logging
import queue
import threading
from collections.abc import Callable

from django.db import connection

from assistant import conf

log = logging.getLogger(__name__)

_jobs: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_start = threading.Lock()


def wanted(app) -> bool:
    """True where `app` (a task's Celery app) has no worker to send to and
    HELP_EMBED_IN_THREAD is on."""
    no_worker = bool(app.conf.task_always_eager) or not app.conf.broker_url
    return no_worker and bool(conf.get("HELP_EMBED_IN_THREAD"))


def submit(job: Callable, *args, **kwargs) -> None:
    """Run `job(*args, **kwargs)` in this process's background thread, after those before it."""
    global _thread
    _jobs.put((job, args, kwargs))
    with _start:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="assistant-background", daemon=True)
            _thread.start()


def wait_idle(timeout: float) -> bool:
    """Whether every job submitted so far is done within `timeout` seconds."""
    with _jobs.all_tasks_done:
        return _jobs.all_tasks_done.wait_for(lambda: not _jobs.unfinished_tasks, timeout)


def _work() -> None:
    while True:
        job, args, kwargs = _jobs.get()
        try:
            job(*args, **kwargs)
        except Exception:
            log.exception("background job %s failed", getattr(job, "__name__", job))
        finally:
            connection.close()  # this thread's own; it would otherwise outlive the job
            _jobs.task_done()
