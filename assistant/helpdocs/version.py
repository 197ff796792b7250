"""The docs' version: it changes whenever a doc is saved or deleted and when the sections'
vectors are stored, and keys the indexes and the answer cache."""

import logging
import threading
import time

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Count, Max

from assistant.models import HelpDoc, SectionVector

log = logging.getLogger(__name__)

DOCS_VERSION_KEY = "assistant:docs-version"
# Bounds how stale another worker's view of the docs can be when the cache is per process.
DOCS_VERSION_TTL = 30


# The version read from the shared cache is reused in-process for this long: one cache round
# trip less per question; another worker sees an edit at most this late.
_LOCAL_VERSION_SECONDS = 1.0
_local_version: tuple[float, str] | None = None
_version_lock = threading.Lock()


def docs_version() -> str:
    """Changes on every save or delete of a HelpDoc (the signal clears the cached value), and
    when the embedding task has stored vectors."""
    now = time.monotonic()
    if _local_version is not None and now - _local_version[0] < _LOCAL_VERSION_SECONDS:
        return _local_version[1]
    # One thread reads it; the others of a burst wait and take its answer (not a database
    # query each when the cache has lost it).
    with _version_lock:
        if _local_version is not None and now - _local_version[0] < _LOCAL_VERSION_SECONDS:
            return _local_version[1]
        return _read_docs_version(now)


# The last version this process read: while the database is unreachable the docs can't
# change, and the indexes built for it still answer (a question is never a 500 for it).
_last_known: str | None = None


def _read_docs_version(now: float) -> str:
    global _local_version, _last_known
    version = cache.get(DOCS_VERSION_KEY)
    if version is None:
        try:
            agg = HelpDoc.objects.aggregate(n=Count("id"), last=Max("updated"))
            last = agg["last"].timestamp() if agg["last"] else 0
            # Vectors stored since (the embedding task's) rebuild the indexes with meaning.
            version = f"{agg['n']}-{last:.6f}-{SectionVector.objects.count()}"
        except DatabaseError:
            if _last_known is None:
                raise
            log.warning("docs version unreadable (database down): keeping %s", _last_known)
            version = _last_known
        else:
            cache.set(DOCS_VERSION_KEY, version, DOCS_VERSION_TTL)
    _local_version = (now, version)
    _last_known = version
    return version


def docs_version_reset() -> None:
    global _local_version
    _local_version = None
    cache.delete(DOCS_VERSION_KEY)
