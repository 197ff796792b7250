"""Fixed-bucket latency histograms: what a rollup row keeps of its latencies, and the
percentiles read back from them.

Buckets grow by 15 % from 1 ms to 10 minutes, so a percentile read from a histogram lies in
the same bucket as the exact one: within 15 % of it (1 ms below 1 ms).
"""

import bisect
import math

from django.db.models import Case, F, Func, IntegerField, Value, When

GROWTH = 1.15
# Bucket i holds [BOUNDS[i], BOUNDS[i + 1]); the last one everything from BOUNDS[-1] up.
BOUNDS: tuple[float, ...] = (0.0,) + tuple(
    round(GROWTH**i, 3) for i in range(math.ceil(math.log(600_000) / math.log(GROWTH)) + 1)
)
SIZE = len(BOUNDS)


def index_of(value: float) -> int:
    """The bucket of `value` (ms): the last bound at or below it."""
    return max(0, bisect.bisect_right(BOUNDS, value) - 1)


def _case(field: str) -> Case:
    whens = [When(**{f"{field}__lt": BOUNDS[i]}, then=Value(i - 1)) for i in range(1, SIZE)]
    return Case(
        When(**{f"{field}__isnull": True}, then=Value(None)),
        *whens,
        default=Value(SIZE - 1),
        output_field=IntegerField(),
    )


class BucketOf(Func):
    """The bucket of a column in SQL (NULL stays NULL): PostgreSQL's width_bucket (a binary
    search over BOUNDS), elsewhere one CASE."""

    output_field = IntegerField()

    def __init__(self, field: str):
        self.column = field
        super().__init__(F(field))

    def as_sql(self, compiler, connection, **extra):
        return compiler.compile(_case(self.column).resolve_expression(compiler.query))

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(width_bucket({sql}, %s::double precision[]) - 1)", (*params, list(BOUNDS))


def empty() -> list[int]:
    return [0] * SIZE


def add(into: list[int], counts: list[int]) -> list[int]:
    """Add `counts` (possibly shorter: trailing zeros trimmed) into `into`."""
    into[: len(counts)] = [a + b for a, b in zip(into, counts, strict=False)]
    return into


def padded(counts: list[int]) -> list[int]:
    """A stored (trimmed) histogram at full size."""
    return counts + [0] * (SIZE - len(counts))


def trimmed(counts: list[int]) -> list[int]:
    """Without trailing zeros: what a rollup row stores."""
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return counts[:end]


def percentile(counts: list[int], fraction: float) -> float | None:
    """The `fraction` percentile, with percentile_cont's rank (fraction × (n − 1)), placed by
    linear interpolation inside its bucket. None for an empty histogram."""
    total = sum(counts)
    if not total:
        return None
    rank = fraction * (total - 1)
    seen = 0
    for i, n in enumerate(counts):
        if n and rank < seen + n:
            low = BOUNDS[i]
            high = BOUNDS[i + 1] if i + 1 < SIZE else low
            return low + (high - low) * (rank - seen + 0.5) / n
        seen += n
    return BOUNDS[len(counts) - 1]  # not reached: rank < total


def width_at(value: float) -> float:
    """The width of the bucket holding `value`: how far a read percentile may be from it."""
    i = index_of(value)
    return (BOUNDS[i + 1] if i + 1 < SIZE else BOUNDS[i]) - BOUNDS[i]
