"""A paginator for the query log's admin list that never counts a million rows on each page."""

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

# Past this many matching rows the list says "10000" and pages up to it; filter to see more.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """The unfiltered list's count is PostgreSQL's estimate of the table's rows (kept by
    autovacuum); a filtered list counts at most COUNT_CAP rows (`LIMIT` inside the count)."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not qs.query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [qs.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:
                return int(row[0])
        return qs.order_by()[:COUNT_CAP].count()
