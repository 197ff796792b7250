"""The query log: one row per question (written in batches by log_writer), the widget's
cache hits, and the readers' votes."""

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.utils import timezone

from assistant import detectors, metrics
from assistant.helpdocs.text import normalise_question
from assistant.models import CacheLevel, QueryLog, QueryStatus
from assistant.querylog import log_writer

if TYPE_CHECKING:  # the answering path writes here; the log does not import it back
    from django.db.models import QuerySet

    from assistant.answering.outcome import Outcome


_PLACEHOLDER = re.compile(r"\[(email|phone|iban|card|number)\]")


def logged_question(typed: str) -> str:
    """A question as the log keeps it: personal data replaced ([email], [phone]…, before
    anything is written), case, spaces and punctuation ignored, the placeholders kept."""
    marked = _PLACEHOLDER.sub(lambda m: f" zzredacted{m.group(1)} ", detectors.redact(typed))
    normal = normalise_question(marked)
    return re.sub(r"zzredacted(email|phone|iban|card|number)", r"[\1]", normal)[:500]


def _outcome_row(outcome: "Outcome", endpoint: str) -> QueryLog:
    """The query log row of an answer (nothing a reader typed without its personal data
    replaced), its metrics counted."""
    status = outcome.status or QueryStatus.ERROR
    metrics.REQUESTS.labels(endpoint, outcome.backend or "none", status).inc()
    if outcome.latency_ms is not None and outcome.backend:
        metrics.LATENCY.labels(outcome.backend).observe(outcome.latency_ms / 1000)
    if outcome.ttft_ms is not None and outcome.backend:
        metrics.TTFT.labels(outcome.backend).observe(outcome.ttft_ms / 1000)
    row = QueryLog(
        id=outcome.id,
        created=timezone.now(),
        path=outcome.path,
        question=logged_question(outcome.question),
        resolved=detectors.redact(outcome.resolved_log),
        follow_up=outcome.follow_up,
        audience=outcome.audience,
        backend=outcome.backend,
        model=outcome.model[:200],
        cache_level=outcome.cache_level,
        status=status,
        latency_ms=outcome.latency_ms if outcome.latency_ms is not None else outcome.elapsed_ms(),
        ttft_ms=outcome.ttft_ms,
        prompt_chars=outcome.prompt_chars,
        tokens_in=outcome.tokens_in,
        tokens_out=outcome.tokens_out,
        doc_ids=outcome.doc_ids,
        sections=[{"title": s["title"], "url": s["url"]} for s in outcome.sources][:10],
        top_doc_id=outcome.doc_ids[0] if outcome.doc_ids else None,
        doc_matched=outcome.doc_matched,
        coverage=outcome.coverage,
        guard_removed=sum(outcome.guard_removed.values()),
        guard_kinds=outcome.guard_removed,
        visitor=outcome.visitor,
    )
    for kind, n in outcome.guard_removed.items():
        metrics.GUARD_REMOVED.labels(kind).inc(n)
    return row


def record_outcome(outcome: "Outcome", endpoint: str) -> None:
    """Log an answer: its row written or queued, readable by every worker either way (for a
    vote, a replay, a follow-up); never fails the request."""
    log_writer.submit(_outcome_row(outcome, endpoint), share=True)


async def arecord_outcome(outcome: "Outcome", endpoint: str) -> None:
    """record_outcome() from the event loop: in batches, the row is shared (one Redis SET,
    awaited: the reader may follow up, vote or replay the moment it has the answer's end),
    then queued (no I/O); inline, written in a thread."""
    if log_writer.writes_inline():
        await sync_to_async(record_outcome)(outcome, endpoint)
        return
    row = _outcome_row(outcome, endpoint)
    await log_writer.ashare([row])
    log_writer.submit(row)


def _answer_ids(raw: Iterable[str]) -> set[str]:
    ids = set()
    for answer_id in raw:
        try:
            ids.add(str(uuid.UUID(answer_id)))
        except ValueError:
            continue
    return ids


def _issued_to(visitor_ids: tuple[str, ...], answer_ids: set[str]) -> dict[str, QueryLog]:
    """The answers among `answer_ids` that the server gave to the visitor of `visitor_ids`
    (widget replays are not answers the server gave): written, or still waiting to be (in
    any worker, while the database is down too)."""
    ids = _answer_ids(answer_ids)

    def written(among: set[str]) -> dict[str, QueryLog] | None:  # None: unreachable
        try:
            rows = QueryLog.objects.filter(id__in=among, visitor__in=visitor_ids).exclude(
                cache_level=CacheLevel.WIDGET
            )
            return {str(row.id): row for row in rows}
        except log_writer.UNREACHABLE:
            return None

    if not ids:
        return {}
    found = written(ids)
    reachable = found is not None
    found = found or {}
    if len(found) < len(ids):
        found.update(
            (answer_id, row)
            for answer_id, row in log_writer.waiting(ids - found.keys()).items()
            if row.visitor in visitor_ids and row.cache_level != CacheLevel.WIDGET
        )
        if reachable and len(found) < len(ids):  # written between the two looks
            found.update(written(ids - found.keys()) or {})
    return found


def turns_of(
    *, answer_ids: tuple[str, ...], visitor_ids: tuple[str, ...]
) -> list[tuple[str, list[dict]]]:
    """The earlier turns of a conversation, oldest first, as the server answered them (the
    standalone question, the sections it cited: [{"title", "url"}]): only answers it issued
    to `visitor` count (others are ignored, as widget hits are)."""
    issued = _issued_to(visitor_ids, set(answer_ids))
    return [
        (row.resolved or row.question, list(row.sections or []))
        for row in (issued.get(answer_id) for answer_id in answer_ids)
        if row is not None
    ]


def record_widget_hits(*, answer_ids: list[str], visitor: str, visitor_ids: tuple[str, ...]) -> int:
    """Log the answers the widget replayed from its local cache, each as the answer the server
    issued under that id to this visitor: its question, page and docs come from the server's
    own row, so a hit can repeat an answer but never invent a question. Unknown or foreign ids
    are ignored and counted as rejected. Returns the hits logged."""
    issued = _issued_to(visitor_ids, set(answer_ids))
    now = timezone.now()
    rows = [
        QueryLog(
            created=now,
            path=original.path,
            question=original.question,
            resolved=original.resolved,
            follow_up=original.follow_up,
            audience=original.audience,
            backend=original.backend,
            model=original.model,
            cache_level=CacheLevel.WIDGET,
            status=original.status,
            latency_ms=0,
            doc_ids=original.doc_ids,
            sections=original.sections,
            top_doc_id=original.top_doc_id,
            doc_matched=original.doc_matched,
            coverage=original.coverage,
            visitor=visitor,
        )
        for original in (issued.get(answer_id) for answer_id in answer_ids)
        if original is not None
    ]
    log_writer.submit(*rows)
    metrics.CACHE_HITS.labels("widget").inc(len(rows))
    metrics.WIDGET_HITS_REJECTED.inc(len(answer_ids) - len(rows))
    return len(rows)


def feedback_record(*, answer_id: str, helpful: bool, visitor_ids: tuple[str, ...]) -> bool:
    """Set the answer's vote (one per answer: a new vote replaces it). An answer still
    waiting to be written gets it once written; with the database unreachable, the vote is
    kept until it is back. False when there is no such answer for this visitor."""
    ids = _answer_ids([answer_id])
    if not ids:
        return False
    answer_id = ids.pop()
    rows = QueryLog.objects.filter(id=answer_id, visitor__in=visitor_ids)

    def vote_now() -> bool | None:  # None: the database can't be reached
        try:
            return rows.update(helpful=helpful) > 0
        except log_writer.UNREACHABLE:
            return None

    if not log_writer.keeps_vote_on(answer_id, visitor_ids):  # else this one queues behind
        voted = vote_now()
        if voted:
            return True
        waiting = log_writer.waiting({answer_id}).get(answer_id)
        if waiting is None and voted is False:
            again = vote_now()  # written between the two looks, or no such answer
            if again is not None:
                return again
        if waiting is not None and (
            waiting.visitor not in visitor_ids or waiting.cache_level == CacheLevel.WIDGET
        ):
            return False
    log_writer.keep_vote(answer_id, visitor_ids, helpful)
    return True


def visitor_rows(*, user_pk) -> "QuerySet[QueryLog]":
    """A signed-in user's query-log rows (their questions, answers' records and votes)."""
    from assistant.web.visitors import user_id

    return QueryLog.objects.filter(visitor=user_id(user_pk))


def visitor_rows_delete(*, user_pk) -> int:
    """Erase a user's rows (a batch still waiting is written first, then erased too)."""
    log_writer.flush()
    return visitor_rows(user_pk=user_pk).delete()[0]


def visitor_export(*, user_pk) -> list[dict]:
    """A user's questions, as the log keeps them, oldest first."""
    log_writer.flush()
    return [
        {
            "asked": row.created.isoformat(),
            "question": row.question,
            "resolved": row.resolved,
            "page": row.path,
            "answered_by": row.backend,
            "sources": row.sections,
            "helpful": row.helpful,
        }
        for row in visitor_rows(user_pk=user_pk).order_by("created")
    ]
