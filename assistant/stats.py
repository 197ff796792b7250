"""Reads for the admin's statistics page: latency percentiles, cache and error rates, questions.

Percentiles are computed by the database where it can (PostgreSQL's percentile_cont) and,
on SQLite, by the same continuous definition in Python.
"""

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import CacheLevel, QueryLog, QueryStatus

PERCENTILES = (0.5, 0.95, 0.99)
ANSWERED = (QueryStatus.OK, QueryStatus.FALLBACK, QueryStatus.NOT_COVERED)


class PercentileCont(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        # A float of ours, never user input: safe to inline in the SQL.
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _names(field: str) -> dict[str, str]:
    return {f"{field}_p{round(p * 100)}": p for p in PERCENTILES}


def percentiles(qs: QuerySet, *fields: str, group_by: tuple[str, ...] = ()) -> list[dict]:
    """p50/p95/p99 of each of `fields` over `qs`, per group (one row when ungrouped), in one
    query. `n` counts the rows that have the first field; other fields skip their NULLs."""
    qs = qs.filter(**{f"{fields[0]}__isnull": False})
    names = {name: (field, p) for field in fields for name, p in _names(field).items()}
    if connection.vendor == "postgresql":
        # percentile_cont, like every ordered-set aggregate, ignores NULLs.
        aggs = {name: PercentileCont(field, p) for name, (field, p) in names.items()}
        if group_by:
            rows = qs.values(*group_by).annotate(n=Count("pk"), **aggs).order_by(*group_by)
            return [dict(r) for r in rows]
        return [{**qs.aggregate(n=Count("pk"), **aggs)}]
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: {f: [] for f in fields})
    for row in qs.values(*group_by, *fields):
        bucket = groups[tuple(row[g] for g in group_by)]
        for field in fields:
            if row[field] is not None:
                bucket[field].append(row[field])
    if not group_by and not groups:
        groups[()] = {f: [] for f in fields}  # an empty window still has its one row
    out = []
    for key in sorted(groups, key=lambda k: tuple(str(v) for v in k)):
        bucket = groups[key]
        row = dict(zip(group_by, key, strict=True))
        row["n"] = len(bucket[fields[0]])
        row.update({name: percentile_cont(bucket[f], p) for name, (f, p) in names.items()})
        out.append(row)
    return out


def _most_asked(qs: QuerySet, limit: int = 20) -> list[dict]:
    return list(qs.values("question").annotate(n=Count("pk")).order_by("-n", "question")[:limit])


def latency_stats(*, since: datetime) -> dict:
    """Everything the statistics page shows for the questions asked since `since`."""
    logs = QueryLog.objects.filter(created__gte=since)
    timed = logs.filter(status__in=ANSWERED).exclude(cache_level=CacheLevel.WIDGET)
    total = logs.count()
    by_day = timed.annotate(day=TruncDate("created"))

    timings = ("latency_ms", "ttft_ms")
    overall = percentiles(timed, *timings)[0]
    per_day = percentiles(by_day, *timings, group_by=("day",))
    per_backend = percentiles(timed, *timings, group_by=("backend",))
    counts = logs.aggregate(
        fallback=Count("pk", filter=Q(status=QueryStatus.FALLBACK)),
        not_covered=Count("pk", filter=Q(status=QueryStatus.NOT_COVERED)),
        errors=Count("pk", filter=Q(status=QueryStatus.ERROR)),
        limited=Count("pk", filter=Q(status=QueryStatus.RATE_LIMITED)),
        **{level: Count("pk", filter=Q(cache_level=level)) for level in CacheLevel.values},
    )

    def rate(n: int) -> float:
        return round(n / total, 4) if total else 0.0

    return {
        "since": since,
        "total": total,
        "overall": overall,
        "per_day": per_day,
        "per_backend": per_backend,
        "cache_rates": {level: rate(counts[level]) for level in CacheLevel.values},
        "fallback_rate": rate(counts["fallback"]),
        "not_covered_rate": rate(counts["not_covered"]),
        "guard": guard_stats(logs),
        "error_rate": rate(counts["errors"]),
        "rate_limited": counts["limited"],
        "backend_mix": list(
            timed.values("backend").annotate(n=Count("pk")).order_by("-n", "backend")
        ),
        "top_questions": top_questions(since=since),
        "unmatched": _most_asked(logs.filter(doc_matched=False)),
        "unhelpful": unhelpful_questions(since=since),
    }


def guard_stats(logs: QuerySet) -> dict:
    """What the grounding guard removed from model answers: how many answers, and by kind."""
    touched = logs.filter(guard_removed__gt=0)
    by_kind: dict[str, int] = defaultdict(int)
    for kinds in touched.values_list("guard_kinds", flat=True):
        for kind, n in (kinds or {}).items():
            by_kind[kind] += int(n)
    agg = touched.aggregate(answers=Count("pk"), removed=Sum("guard_removed"))
    return {
        "answers": agg["answers"],
        "removed": agg["removed"] or 0,
        "by_kind": sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0])),
    }


def top_questions(*, since: datetime, limit: int = 20) -> list[dict]:
    asked = QueryLog.objects.filter(created__gte=since).exclude(status=QueryStatus.RATE_LIMITED)
    return _most_asked(asked, limit)


def top_questions_by_section(*, since: datetime, limit: int) -> list[tuple[str, str]]:
    """[(question, path)] most asked since `since`, per page section, most asked first."""
    from .selectors import section_of

    counts: dict[tuple[str, str], int] = defaultdict(int)
    rows = (
        QueryLog.objects.filter(created__gte=since, status__in=ANSWERED, doc_matched=True)
        .values("question", "path")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[(row["question"], section_of(row["path"]))] += row["n"]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [key for key, _ in ranked[:limit]]


def unhelpful_questions(*, since: datetime, limit: int = 20) -> list[dict]:
    rows = (
        QueryLog.objects.filter(created__gte=since, helpful=False)
        .values("question", "top_doc")
        .annotate(n=Count("pk"), title=F("top_doc__title"))
        .order_by("-n", "question")[:limit]
    )
    return [dict(r) for r in rows]


def window(name: str) -> tuple[str, datetime]:
    """ "24h", "7d" or "30d" → (name, start)."""
    spans = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    name = name if name in spans else "24h"
    return name, timezone.now() - spans[name]


def latency_chart_svg(per_day: list[dict], width: int = 640, height: int = 200) -> str:
    """p50 and p95 latency per day as an inline SVG (drawn here: no JS library, no CDN)."""
    points = [r for r in per_day if r.get("latency_ms_p50") is not None]
    pad = 36
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="No data yet"><text x="{pad}" y="{height // 2}">'
            "No data yet</text></svg>"
        )
    top = max(r["latency_ms_p95"] or r["latency_ms_p50"] for r in points) or 1.0
    step = (width - 2 * pad) / max(1, len(points) - 1)

    def xy(i: int, value: float) -> str:
        return f"{pad + i * step:.1f},{height - pad - (value / top) * (height - 2 * pad):.1f}"

    def line(key: str, colour: str) -> str:
        coords = " ".join(xy(i, r[key] or 0.0) for i, r in enumerate(points))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'

    labels = "".join(
        f'<text x="{pad + i * step:.1f}" y="{height - 12}" font-size="10" '
        f'text-anchor="middle">{r["day"]:%d %b}</text>'
        for i, r in enumerate(points)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="Latency per day: p50 and p95">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#999"/>'
        f'<text x="4" y="{pad - 8}" font-size="10">{top:.0f} ms</text>'
        f"{line('latency_ms_p50', '#2d5bd7')}{line('latency_ms_p95', '#d7482d')}{labels}"
        f'<text x="{width - pad}" y="14" font-size="11" text-anchor="end">'
        f'<tspan fill="#2d5bd7">p50</tspan> <tspan fill="#d7482d">p95</tspan></text></svg>'
    )
