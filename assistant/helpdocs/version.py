"""The docs' version: it changes whenever a doc is saved or deleted and when the sections'
vectors are stored, and keys the indexes and the answer cache."""

import threading
import time

from django.core.cache import cache
from django.db.models import Count, Max

from assistant.models import HelpDoc, SectionVector

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


def _read_docs_version(now: float) -> str:
    global _local_version
    version = cache.get(DOCS_VERSION_KEY)
    if version is None:
        agg = HelpDoc.objects.aggregate(n=Count("id"), last=Max("updated"))
        last = agg["last"].timestamp() if agg["last"] else 0
        # Vectors stored since (the embedding task's) rebuild the indexes with meaning.
        version = f"{agg['n']}-{last:.6f}-{SectionVector.objects.count()}"
        cache.set(DOCS_VERSION_KEY, version, DOCS_VERSION_TTL)
    _local_version = (now, version)
    return version


def docs_version_reset() -> None:
    global _local_version
    _local_version = None
    cache.delete(DOCS_VERSION_KEY)
