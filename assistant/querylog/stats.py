"""Reads for the admin's statistics page: latency percentiles, cache and error rates, questions
(from the daily rollups and the log's newest rows: assistant.querylog.rollups).

`percentiles` computes exact ones (PostgreSQL's percentile_cont, the same definition in Python
on SQLite): what the histograms are checked against in the tests and `make bench`.
"""

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, QuerySet
from django.utils import timezone

from assistant.models import CacheLevel, QueryLog, QueryStatus
from assistant.querylog import histogram, rollups

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


def _timing_row(latency: list[int], ttft: list[int]) -> dict:
    row: dict = {"n": sum(latency)}
    for field, counts in (("latency_ms", latency), ("ttft_ms", ttft)):
        row.update({name: histogram.percentile(counts, p) for name, p in _names(field).items()})
    return row


def latency_stats(*, since: datetime, until: datetime | None = None) -> dict:
    """Everything the statistics page shows for the questions asked in [since, until): whole
    days from the daily rollups, the rest from the log (assistant.querylog.rollups). Percentiles are
    read from fixed-bucket histograms: within one bucket (15 %) of the exact ones."""
    part = rollups.window(since, until or timezone.now())
    cells = rollups.cells_of(part)

    # [latency histogram, TTFT histogram, rows] of the answered questions (widget replays
    # aside: they took no time), per day and per backend, in one pass.
    per: dict[str, dict[Any, list]] = {"day": {}, "backend": {}}
    for (day, backend, level, status), cell in cells.items():
        if status not in ANSWERED or level == CacheLevel.WIDGET:
            continue
        for group, key in (("day", day), ("backend", backend)):
            acc = per[group].get(key)
            if acc is None:
                per[group][key] = [list(cell.latency), list(cell.ttft), cell.n]
            else:
                histogram.add(acc[0], cell.latency)
                histogram.add(acc[1], cell.ttft)
                acc[2] += cell.n
    overall = [histogram.empty(), histogram.empty(), 0]
    for latency, ttft, n in per["backend"].values():
        histogram.add(overall[0], latency)
        histogram.add(overall[1], ttft)
        overall[2] += n
    per_day = [
        {"day": day, **_timing_row(lat, ttft)}
        for day, (lat, ttft, _) in sorted(per["day"].items())
        if sum(lat)
    ]
    by_backend = per["backend"]
    per_backend = [
        {"backend": b, **_timing_row(lat, ttft)}
        for b, (lat, ttft, _) in sorted(by_backend.items())
        if sum(lat)
    ]
    total = sum(cell.n for cell in cells.values())

    def count(where: Callable[[rollups.CellKey], bool]) -> int:
        return sum(cell.n for key, cell in cells.items() if where(key))

    def rate(n: int) -> float:
        return round(n / total, 4) if total else 0.0

    questions = rollups.most(part)
    guard = rollups.Cell()
    for cell in cells.values():
        guard.add_guard(cell.guard_answers, cell.guard_removed, cell.guard_kinds)
    follow_ups = sum(cell.follow_ups for cell in cells.values())
    maybe = sum(cell.maybe for cell in cells.values())
    return {
        "since": since,
        "total": total,
        "overall": _timing_row(overall[0], overall[1]),
        "per_day": per_day,
        "per_backend": per_backend,
        "cache_rates": {
            level: rate(count(lambda key, level=level: key[2] == level))
            for level in CacheLevel.values
        },
        "fallback_rate": rate(count(lambda key: key[3] == QueryStatus.FALLBACK)),
        "not_covered_rate": rate(count(lambda key: key[3] == QueryStatus.NOT_COVERED)),
        # Partly covered (`maybe`): a doc gap that half exists, apart from the uncovered.
        "maybe": maybe,
        "maybe_rate": rate(maybe),
        "guard": {
            "answers": guard.guard_answers,
            "removed": guard.guard_removed,
            "by_kind": sorted(guard.guard_kinds.items(), key=lambda kv: (-kv[1], kv[0])),
        },
        "follow_ups": follow_ups,
        "follow_up_rate": rate(follow_ups),
        "error_rate": rate(count(lambda key: key[3] == QueryStatus.ERROR)),
        "rate_limited": count(lambda key: key[3] == QueryStatus.RATE_LIMITED),
        "backend_mix": sorted(
            ({"backend": b, "n": n} for b, (_, _, n) in by_backend.items()),
            key=lambda r: (-r["n"], r["backend"]),
        ),
        "top_questions": questions["visitors"],
        "unmatched": questions["unmatched"],
        "partly": questions["maybe"],
        "unhelpful": unhelpful_questions(part, questions["unhelpful"]),
    }


def top_questions(*, since: datetime, limit: int = 20) -> list[dict]:
    """The questions the most visitors asked (distinct visitors per day, summed): one visitor
    asking again, or replaying an answer from the widget's cache, counts once a day."""
    return rollups.most(rollups.window(since, timezone.now()), limit)["visitors"]


def top_questions_by_section(*, since: datetime, limit: int) -> list[tuple[str, str]]:
    """[(question, path)] asked by the most visitors since `since`, per page section, most
    asked first; only questions the docs covered (a model never answers what no doc says)."""
    from assistant.helpdocs.selectors import section_of

    counts: dict[tuple[str, str], int] = defaultdict(int)
    rows = (
        QueryLog.objects.filter(created__gte=since, status__in=ANSWERED, doc_matched=True)
        .values("question", "path")
        .annotate(n=Count("visitor", distinct=True))
    )
    for row in rows:
        counts[(row["question"], section_of(row["path"]))] += row["n"]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [key for key, _ in ranked[:limit]]


def unhelpful_questions(part: rollups.Window, ranked: list[dict]) -> list[dict]:
    """The questions most voted unhelpful (`ranked`, from the rollups), each with the doc its
    down-voted answers relied on most: the one to edit."""
    docs: dict[str, dict] = {}
    rows = (
        QueryLog.objects.filter(
            question__in=[r["question"] for r in ranked],
            helpful=False,
            created__gte=part.since,
            created__lt=part.until,
            top_doc__isnull=False,
        )
        .values("question", "top_doc", "top_doc__title")
        .annotate(k=Count("*"))
        .order_by("question", "-k", "top_doc")
    )
    for row in rows:
        docs.setdefault(row["question"], row)
    return [
        {
            **r,
            "top_doc": docs.get(r["question"], {}).get("top_doc"),
            "title": docs.get(r["question"], {}).get("top_doc__title"),
        }
        for r in ranked
    ]


WINDOWS = {"24h": 0, "7d": 7, "30d": 30}


def window(name: str, now: datetime | None = None) -> tuple[str, datetime]:
    """ "24h", "7d" or "30d" → (name, start). "24h" is the last 24 hours; "7d" and "30d" are
    calendar days, today included, so that every day but today is read from its rollup."""
    now = now or timezone.now()
    name = name if name in WINDOWS else "24h"
    if not WINDOWS[name]:
        return name, now - timedelta(hours=24)
    today = timezone.localtime(now).date()
    return name, rollups.day_start(today - timedelta(days=WINDOWS[name] - 1))


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
