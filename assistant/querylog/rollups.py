"""Daily rollups of the query log, so the statistics page costs the same at a million rows as
at a thousand: whole days are read from QueryRollup/QuestionRollup, the rest of a window (the
partial first day, today) from the log itself through the same summarising code.

A Celery task (`roll_up_query_logs`) writes each finished day once, and the last one again on
every run, so rows that reached the log late are still counted.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from assistant.models import (
    Coverage,
    QueryLog,
    QueryRollup,
    QueryStatus,
    QuestionRollup,
    RolledDay,
)
from assistant.querylog import histogram

# (day, backend, cache level, status)
CellKey = tuple[date, str, str, str]


@dataclass
class Cell:
    """What the page needs of the rows of one CellKey."""

    n: int = 0
    latency: list[int] = field(default_factory=histogram.empty)
    ttft: list[int] = field(default_factory=histogram.empty)
    guard_answers: int = 0
    guard_removed: int = 0
    guard_kinds: dict[str, int] = field(default_factory=dict)
    follow_ups: int = 0
    maybe: int = 0  # questions the docs partly covered

    def add_guard(self, answers: int, removed: int, kinds: dict) -> None:
        self.guard_answers += answers
        self.guard_removed += removed
        for kind, n in (kinds or {}).items():
            self.guard_kinds[kind] = self.guard_kinds.get(kind, 0) + int(n)


@dataclass(frozen=True)
class Window:
    """[since, until) as whole days read from the rollups and time ranges read from the log."""

    since: datetime
    until: datetime
    rolled: tuple[date, ...]
    live: QuerySet

    @property
    def cell_rows(self) -> QuerySet:
        return QueryRollup.objects.filter(day__in=self.rolled)

    @property
    def question_rows(self) -> QuerySet:
        return QuestionRollup.objects.filter(day__in=self.rolled)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _day_of(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def window(since: datetime, until: datetime) -> Window:
    """Split [since, until) into the rolled-up days wholly inside it and the rest."""
    first, last = _day_of(since), _day_of(until)
    if day_start(first) < since:
        first += timedelta(days=1)
    # Days ending at or before `until`; today is never rolled up.
    rolled = sorted(
        RolledDay.objects.filter(day__gte=first, day__lt=last).values_list("day", flat=True)
    )
    ranges, cursor = [], since
    for day in rolled:
        if cursor < day_start(day):
            ranges.append((cursor, day_start(day)))
        cursor = day_start(day + timedelta(days=1))
    if cursor < until:
        ranges.append((cursor, until))
    live = Q(pk__in=[])
    for low, high in ranges:
        live |= Q(created__gte=low, created__lt=high)
    return Window(since, until, tuple(rolled), QueryLog.objects.filter(live))


def summarise(logs: QuerySet) -> dict[CellKey, Cell]:
    """The cells of these log rows: three queries whatever their number."""
    by_day = logs.order_by().annotate(day=TruncDate("created"))
    keys = ("day", "backend", "cache_level", "status")
    cells: dict[CellKey, Cell] = {}
    # One grouping per histogram: grouping by both buckets at once returns their product.
    for column in ("latency_ms", "ttft_ms"):
        counted = (
            by_day.annotate(bucket=histogram.BucketOf(column))
            .values_list(*keys, "bucket")
            .annotate(k=Count("*"))
        )
        for *key, bucket, k in counted:
            cell = cells.setdefault(tuple(key), Cell())
            if column == "latency_ms":
                cell.n += k
            if bucket is not None:
                (cell.latency if column == "latency_ms" else cell.ttft)[bucket] += k
    guarded = by_day.filter(guard_removed__gt=0).values_list(*keys, "guard_removed", "guard_kinds")
    for *key, removed, kinds in guarded:
        cells[tuple(key)].add_guard(1, removed, kinds)
    for *key, k in by_day.filter(follow_up=True).values_list(*keys).annotate(k=Count("*")):
        cells[tuple(key)].follow_ups = k
    for *key, k in by_day.filter(coverage=Coverage.MAYBE).values_list(*keys).annotate(k=Count("*")):
        cells[tuple(key)].maybe = k
    return cells


def rolled_cells(rollups: QuerySet) -> dict[CellKey, Cell]:
    cells: dict[CellKey, Cell] = {}
    fields = ("n", "latency_hist", "ttft_hist", "guard_answers", "guard_removed", "guard_kinds")
    for *key, n, latency, ttft, answers, removed, kinds, follow_ups, maybe in rollups.values_list(
        "day", "backend", "cache_level", "status", *fields, "follow_ups", "maybe"
    ):
        # One row per key and day (a unique constraint): nothing to add up.
        cells[tuple(key)] = Cell(
            n,
            histogram.padded(latency),
            histogram.padded(ttft),
            answers,
            removed,
            dict(kinds),
            follow_ups,
            maybe,
        )
    return cells


def cells_of(part: Window) -> dict[CellKey, Cell]:
    """Every cell of the window. Its live ranges are the days not rolled up, so the two
    parts never share a key."""
    return {**rolled_cells(part.cell_rows), **summarise(part.live)}


def _question_counts(logs: QuerySet) -> QuerySet:
    """Per day and question: distinct visitors (rate-limited asks aside), uncovered asks,
    answers voted unhelpful and partly covered asks (`maybe`: not counted as uncovered)."""
    return (
        logs.order_by()
        .annotate(day=TruncDate("created"))
        .values("day", "question")
        .annotate(
            visitors=Count("visitor", distinct=True, filter=~Q(status=QueryStatus.RATE_LIMITED)),
            unmatched=Count("pk", filter=Q(doc_matched=False) & ~Q(coverage=Coverage.MAYBE)),
            unhelpful=Count("pk", filter=Q(helpful=False)),
            maybe=Count("pk", filter=Q(coverage=Coverage.MAYBE)),
        )
    )


MEASURES = ("visitors", "unmatched", "unhelpful", "maybe")


def most(part: Window, limit: int = 20) -> dict[str, list[dict]]:
    """Per measure ("visitors": distinct visitors per day, summed over the days; "unmatched":
    asks the docs did not cover; "unhelpful": answers voted down; "maybe": asks the docs
    partly covered), the questions with the
    highest sums: [{"question", "n"}]. One grouped query over the rollups, one over the log."""
    sums: dict[str, list[int]] = {}
    rolled = part.question_rows.values("question").annotate(
        **{f"sum_{m}": Sum(m) for m in MEASURES}
    )
    for question, *counts in rolled.values_list("question", *(f"sum_{m}" for m in MEASURES)):
        sums[question] = counts
    for question, *counts in _question_counts(part.live).values_list("question", *MEASURES):
        into = sums.setdefault(question, [0] * len(MEASURES))
        for i, n in enumerate(counts):
            into[i] += n
    out = {}
    for i, measure in enumerate(MEASURES):
        ranked = sorted(
            ((q, counts[i]) for q, counts in sums.items() if counts[i]),
            key=lambda kv: (-kv[1], kv[0]),
        )[:limit]
        out[measure] = [{"question": q, "n": n} for q, n in ranked]
    return out


# --- Writing ------------------------------------------------------------------------------


def roll_up_day(day: date) -> int:
    """(Re)write the rollups of `day` in one transaction; returns the log rows it covers."""
    logs = QueryLog.objects.filter(
        created__gte=day_start(day), created__lt=day_start(day + timedelta(days=1))
    )
    cells = summarise(logs)
    questions = [
        QuestionRollup(day=day, **{k: r[k] for k in ("question", *MEASURES)})
        for r in _question_counts(logs)
    ]
    with transaction.atomic():
        QueryRollup.objects.filter(day=day).delete()
        QuestionRollup.objects.filter(day=day).delete()
        QueryRollup.objects.bulk_create(
            QueryRollup(
                day=day,
                backend=backend,
                cache_level=level,
                status=status,
                n=cell.n,
                latency_hist=histogram.trimmed(cell.latency),
                ttft_hist=histogram.trimmed(cell.ttft),
                guard_answers=cell.guard_answers,
                guard_removed=cell.guard_removed,
                guard_kinds=cell.guard_kinds,
                follow_ups=cell.follow_ups,
                maybe=cell.maybe,
            )
            for (_, backend, level, status), cell in cells.items()
        )
        QuestionRollup.objects.bulk_create(questions, batch_size=2000)
        RolledDay.objects.update_or_create(day=day, defaults={"rolled_at": timezone.now()})
    return sum(cell.n for cell in cells.values())


def roll_up(now: datetime | None = None) -> dict:
    """Roll up every finished day not rolled up yet, and the last rolled day again."""
    today = _day_of(now or timezone.now())
    last = RolledDay.objects.aggregate(d=Max("day"))["d"]
    if last is None:
        oldest = QueryLog.objects.aggregate(c=Min("created"))["c"]
        if oldest is None:
            return {"days": 0, "rows": 0}
        last = _day_of(oldest)
    days, rows, day = 0, 0, last
    while day < today:
        rows += roll_up_day(day)
        days += 1
        day += timedelta(days=1)
    return {"days": days, "rows": rows}


def purge(before: date) -> int:
    """Drop the rollups of days before `before` (with the log rows they summarised)."""
    deleted = 0
    for model in (QueryRollup, QuestionRollup, RolledDay):
        deleted += model.objects.filter(day__lt=before).delete()[0]
    return deleted
