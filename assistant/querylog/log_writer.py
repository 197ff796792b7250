"""Query log rows written in batches by one thread per process, off the request path.

A row waits at most HELP_LOG_BATCH_SECONDS (0 writes inline, as the tests do); rows still
waiting are written at exit. One bulk insert per batch costs a fraction of one insert per
request.
"""

import atexit
import logging
import threading

from django.db import IntegrityError, InterfaceError, OperationalError, connection

from assistant import conf
from assistant.models import QueryLog

log = logging.getLogger(__name__)

_pending: list[QueryLog] = []
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
MAX_BATCH = 500


def writes_inline() -> bool:
    """Batching off (HELP_LOG_BATCH_SECONDS 0): submit() writes to the database itself."""
    return float(conf.get("HELP_LOG_BATCH_SECONDS")) <= 0


def submit(*rows: QueryLog) -> None:
    """Queue `rows` for the next batch (or write them now when batching is off)."""
    global _thread
    if writes_inline():
        _write(list(rows))
        return
    with _lock:
        _pending.extend(rows)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, daemon=True, name="assistant-log-writer")
            _thread.start()
        if len(_pending) >= MAX_BATCH:
            _wake.set()


def flush() -> int:
    """Write every waiting row now; returns how many."""
    with _lock:
        rows = _pending[:]
        _pending.clear()
    if rows:
        _write(rows)
    return len(rows)


def _run() -> None:
    # The thread keeps its database connection between batches (closing it after each, as
    # it did, cost a new PostgreSQL connection five times a second per worker); _write opens
    # a new one when it has died.
    while True:
        _wake.wait(float(conf.get("HELP_LOG_BATCH_SECONDS")) or 0.2)
        _wake.clear()
        flush()


def _write(rows: list[QueryLog]) -> None:
    try:
        try:
            QueryLog.objects.bulk_create(rows)
        except (OperationalError, InterfaceError):  # the connection died (a restart): again
            connection.close()
            QueryLog.objects.bulk_create(rows)
    except IntegrityError:
        # A doc was deleted meanwhile: keep the rows, without the link to it.
        for row in rows:
            row.top_doc_id = None
        try:
            QueryLog.objects.bulk_create(rows, ignore_conflicts=True)
        except Exception:
            log.exception("could not write %d query log rows", len(rows))
    except Exception:
        log.exception("could not write %d query log rows", len(rows))
        connection.close()


atexit.register(flush)
