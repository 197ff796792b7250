"""Query log rows written in batches by one thread per process, off the request path, and
kept while the database can't be written.

A row waits at most HELP_LOG_BATCH_SECONDS (0 writes inline, as the tests do). When a batch
can't be written (the database is down, failing over, unreachable) its rows stay queued, in
order, and the thread tries again with backoff; at most HELP_LOG_MAX_PENDING rows per process
wait, the oldest dropped past it. Rows are inserted ON CONFLICT DO NOTHING: a batch that did
commit before its connection died is not written twice when retried. What waits is written at
exit too, as far as the database allows.

Lookups must not depend on which worker holds a row, nor on the database: an answer's row
is shared (querylog.shared: Redis) from before it is queued until it is written (`waiting`),
and a vote on an answer still waiting is kept (`keep_vote`) and applied once the row is in.
"""

import atexit
import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, InterfaceError, InternalError, OperationalError, connection

from assistant import conf, metrics
from assistant.models import CacheLevel, QueryLog
from assistant.querylog import shared

log = logging.getLogger(__name__)

MAX_BATCH = 500
# The database is down or failing over (InternalError: a read-only standby refusing writes):
# the rows wait. Any other error is about the rows themselves.
UNREACHABLE = (OperationalError, InterfaceError, InternalError)
RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # seconds between tries while the database fails
_FIELDS = [f.attname for f in QueryLog._meta.concrete_fields]


@dataclass(frozen=True)
class _Vote:
    answer_id: str
    visitor_ids: tuple[str, ...]
    helpful: bool
    unset_only: bool = False  # kept by another worker: never over a vote the row got since


_pending: deque[QueryLog] = deque()  # oldest first
_index: dict[str, QueryLog] = {}  # the same rows by id, for lookups
_votes: deque[_Vote] = deque()  # applied after the rows queued before them
_forget: list[str] = []  # dropped rows whose shared records the thread removes
_inflight = 0  # rows at the head of _pending being written now: never dropped
_dropped_unlogged = 0
_failing_since: float | None = None
_retry_in = RETRY_FIRST
_lock = threading.Lock()  # the state above
_writing = threading.Lock()  # one writer at a time: the thread, flush() or the exit
_wake = threading.Event()
_thread: threading.Thread | None = None
_generation = 0  # a thread of an earlier generation ends (reset)


def writes_inline() -> bool:
    """Batching off (HELP_LOG_BATCH_SECONDS 0): submit() writes to the database itself."""
    return float(conf.get("HELP_LOG_BATCH_SECONDS")) <= 0


def _key(answer_id: str) -> str:
    return f"assistant:querylog:waiting:{answer_id}"


def _vote_key(answer_id: str) -> str:
    return f"assistant:querylog:vote:{answer_id}"


def _shareable(rows: Iterable[QueryLog]) -> list[QueryLog]:
    # Widget replays are never looked up (a vote, a follow-up or a replay names an answer).
    return [row for row in rows if row.cache_level != CacheLevel.WIDGET]


def _records(rows: list[QueryLog]) -> dict[str, dict]:
    return {_key(str(row.id)): {f: getattr(row, f) for f in _FIELDS} for row in rows}


def _row(record: dict) -> QueryLog:
    """An unsaved row from its shared record (stored as JSON; written by a worker of this
    version or, during a deploy, of another: fields it doesn't know are left out)."""
    row = QueryLog(**{f: record[f] for f in _FIELDS if f in record})
    row.id = uuid.UUID(str(record["id"]))
    if isinstance(row.created, str):
        row.created = datetime.fromisoformat(row.created)
    return row


def _share(rows: list[QueryLog]) -> None:
    if rows:
        shared.put(_records(rows))


async def ashare(rows: list[QueryLog]) -> None:
    """Make answers' rows readable by every worker (`waiting`) until they are written: from
    the event loop, before they are queued (the writer removes a record once its row is in)."""
    if rows := _shareable(rows):
        await shared.aput(_records(rows))


def submit(*rows: QueryLog, share: bool = False) -> None:
    """Queue `rows` for the next batch (or write them now when batching is off). `share`:
    an answer's row, looked up by any worker (`waiting`) until it is written: a Redis write,
    so call this from a thread, not the event loop."""
    inline = writes_inline()
    if share and not inline:
        _share(_shareable(rows))  # before the queue: the writer removes it once written
    with _lock:
        _pending.extend(rows)
        _index.update((str(row.id), row) for row in rows)
        dropped = _drop_oldest_rows()
        if _failing_since is not None:
            metrics.QUERYLOG_WAITING.set(len(_pending))
        elif len(_pending) >= MAX_BATCH:
            _wake.set()
    if dropped:
        metrics.QUERYLOG_DROPPED.inc(dropped)
    if not inline:
        _start_thread()
        return
    if _failing_since is None:  # while it fails, the thread retries: no request waits on it
        flush()
    if share:
        with _lock:
            still = [row for row in rows if str(row.id) in _index]
        _share(_shareable(still))


def _drop_oldest_rows() -> int:
    """Past HELP_LOG_MAX_PENDING, the oldest rows not being written go; how many. Under
    _lock."""
    global _dropped_unlogged
    limit = max(int(conf.get("HELP_LOG_MAX_PENDING")), _inflight)
    dropped = 0
    while len(_pending) > limit:
        row = _pending[_inflight]
        del _pending[_inflight]
        _index.pop(str(row.id), None)
        _forget.append(str(row.id))
        dropped += 1
    _dropped_unlogged += dropped
    return dropped


def _start_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=_run, args=(_generation,), daemon=True, name="assistant-log-writer"
            )
            _thread.start()


def waiting(answer_ids: set[str]) -> dict[str, QueryLog]:
    """The answers among `answer_ids` (canonical UUID strings) queued and not yet written, in
    this process or in any other sharing its Redis: unsaved rows, by id."""
    with _lock:
        found = {i: _index[i] for i in answer_ids if i in _index}
    rest = [i for i in answer_ids if i not in found]
    if rest:
        records = shared.get_many([_key(i) for i in rest])
        found.update((i, _row(records[_key(i)])) for i in rest if _key(i) in records)
    return found


def keeps_vote_on(answer_id: str, visitor_ids: tuple[str, ...]) -> bool:
    """This visitor's vote on `answer_id` waits here: a newer one queues behind it."""
    with _lock:
        return any(v.answer_id == answer_id and v.visitor_ids == visitor_ids for v in _votes)


def keep_vote(answer_id: str, visitor_ids: tuple[str, ...], helpful: bool) -> None:
    """Apply a vote once its answer's row is written: after the rows this process holds,
    in order, or once the database is back. An answer waiting in another worker gets it
    through Redis too: that worker's writer applies it the moment its row is in."""
    global _dropped_unlogged
    with _lock:
        local = answer_id in _index
        # The latest vote is the one that counts.
        for earlier in [
            v for v in _votes if (v.answer_id, v.visitor_ids) == (answer_id, visitor_ids)
        ]:
            _votes.remove(earlier)
        _votes.append(_Vote(answer_id, visitor_ids, helpful))
        dropped = max(0, len(_votes) - int(conf.get("HELP_LOG_MAX_PENDING")))
        for _ in range(dropped):
            _votes.popleft()
        _dropped_unlogged += dropped
    if not local:
        shared.put({_vote_key(answer_id): helpful})
    if dropped:
        metrics.QUERYLOG_DROPPED.inc(dropped)
    # The database answers and no batch is being written: the vote shows at once, as on a
    # written row. Else the thread applies it (a request never waits on a batch).
    if _failing_since is None and _writing.acquire(blocking=False):
        try:
            _drain()
        finally:
            _writing.release()
    else:
        if _failing_since is None:
            _wake.set()
        _start_thread()


def flush() -> int:
    """Write every waiting row now, then the votes kept; returns how many rows. Rows the
    database can't take stay queued (the thread retries)."""
    with _writing:
        return _drain()


def _drain() -> int:
    global _inflight
    written = 0
    _forget_dropped()
    while True:
        with _lock:
            batch = list(itertools.islice(_pending, MAX_BATCH))
            _inflight = len(batch)
        if not batch:
            break
        try:
            _insert(batch)
        except UNREACHABLE as exc:
            with _lock:
                _inflight = 0
            _failed(exc)
            return written
        with _lock:
            for _ in batch:  # only the head of the queue is written, and none was dropped
                _index.pop(str(_pending.popleft().id), None)
            _inflight = 0
        _after_written(batch)
        written += len(batch)
    try:
        _apply_votes()
    except UNREACHABLE as exc:
        _failed(exc)
        return written
    _recovered(written)
    return written


def _insert(rows: list[QueryLog]) -> None:
    """One INSERT … ON CONFLICT DO NOTHING (the ids are the keys), again on a new connection
    when the one kept between batches has died (a restart); rows the database refuses are
    dropped one by one."""
    try:
        _bulk_insert(rows)
    except UNREACHABLE:
        _close_connection()
        _bulk_insert(rows)


def _bulk_insert(rows: list[QueryLog]) -> None:
    try:
        QueryLog.objects.bulk_create(rows, ignore_conflicts=True)
    except UNREACHABLE:
        raise
    except IntegrityError:
        # A doc was deleted meanwhile: keep the rows, without the link to it.
        for row in rows:
            row.top_doc_id = None
        _each_alone(rows)
    except Exception:
        _each_alone(rows)


def _each_alone(rows: list[QueryLog]) -> None:
    if len(rows) == 1:
        try:
            QueryLog.objects.bulk_create(rows, ignore_conflicts=True)
        except UNREACHABLE:
            raise
        except Exception:
            log.exception("the database refused a query log row; dropped")
            metrics.QUERYLOG_DROPPED.inc()
        return
    for row in rows:
        _each_alone([row])


def _after_written(rows: list[QueryLog]) -> None:
    """The shared records of rows now written are removed; votes other workers kept on them
    join this process's votes, applied next."""
    answers = _shareable(rows)
    if not answers:
        return
    votes = shared.get_many([_vote_key(str(row.id)) for row in answers])
    with _lock:
        _votes.extend(
            _Vote(str(row.id), (row.visitor,), votes[_vote_key(str(row.id))], unset_only=True)
            for row in answers
            if _vote_key(str(row.id)) in votes
        )
    shared.delete_many([_key(str(row.id)) for row in answers] + list(votes))


def _apply_votes() -> None:
    while True:
        with _lock:
            if not _votes:
                return
            vote = _votes[0]
        rows = QueryLog.objects.filter(id=vote.answer_id, visitor__in=vote.visitor_ids)
        if vote.unset_only:
            rows = rows.filter(helpful__isnull=True)
        rows.update(helpful=vote.helpful)
        with _lock:
            if _votes and _votes[0] is vote:
                _votes.popleft()


def _forget_dropped() -> None:
    global _dropped_unlogged
    with _lock:
        ids, _forget[:] = _forget[:], []
        dropped, _dropped_unlogged = _dropped_unlogged, 0
    if ids:
        shared.delete_many([_key(i) for i in ids])
    if dropped:
        log.error(
            "query log: %d waiting rows or votes dropped, the oldest (HELP_LOG_MAX_PENDING=%s)",
            dropped,
            conf.get("HELP_LOG_MAX_PENDING"),
        )


def _failed(exc: Exception) -> None:
    global _failing_since, _retry_in
    _close_connection()
    with _lock:
        first = _failing_since is None
        if first:
            _failing_since, _retry_in = time.monotonic(), RETRY_FIRST
        else:
            _retry_in = min(RETRY_MAX, _retry_in * 2)
        waiting_rows = len(_pending)
    metrics.QUERYLOG_WAITING.set(waiting_rows)
    if first:
        log.warning(
            "query log: the database can't be written (%s); %d rows wait", exc, waiting_rows
        )
    _start_thread()


def _recovered(written: int) -> None:
    global _failing_since
    with _lock:
        since, _failing_since = _failing_since, None
    if since is not None:
        metrics.QUERYLOG_WAITING.set(0)
        log.warning(
            "query log: the database is back after %.1f s; %d waiting rows written",
            time.monotonic() - since,
            written,
        )


def _close_connection() -> None:
    with contextlib.suppress(Exception):
        connection.close()


def reset() -> None:
    """Forget every waiting row and vote and any failure, and end the thread (tests: one a
    test left running would write another test's rows through its own connection)."""
    global _failing_since, _inflight, _dropped_unlogged, _generation, _thread
    with _lock:
        _pending.clear()
        _index.clear()
        _votes.clear()
        _forget.clear()
        _failing_since, _inflight, _dropped_unlogged = None, 0, 0
        _generation += 1
        thread, _thread = _thread, None
    metrics.QUERYLOG_WAITING.set(0)
    if thread is not None and thread is not threading.current_thread():
        _wake.set()
        thread.join(10)
    _wake.clear()


def _run(generation: int) -> None:
    # The thread keeps its database connection between batches (closing it after each, as
    # it did, cost a new PostgreSQL connection five times a second per worker); _insert opens
    # a new one when it has died.
    try:
        while generation == _generation:
            failing = _failing_since is not None
            # While the database fails, the backoff: nothing wakes the thread sooner.
            _wake.wait(_retry_in if failing else (float(conf.get("HELP_LOG_BATCH_SECONDS")) or 0.2))
            _wake.clear()
            if generation != _generation:
                break
            try:
                flush()
            except Exception:  # a bug must not end the thread and leave the rows unwritten
                log.exception("query log writer")
    finally:
        _close_connection()


def _at_exit() -> None:
    """Write what waits; what the database can't take now is lost, and counted."""
    if not _writing.acquire(timeout=10):
        return
    try:
        _drain()
    finally:
        _writing.release()
    with _lock:
        lost = len(_pending)
    if lost:
        metrics.QUERYLOG_DROPPED.inc(lost)
        log.error("query log: %d rows could not be written before exit", lost)


atexit.register(_at_exit)
