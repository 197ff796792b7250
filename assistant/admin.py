from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from assistant.backends import REGISTRY
from assistant.helpdocs.markdown import render_markdown
from assistant.models import HelpDoc, QueryLog
from assistant.querylog.admin_paging import CappedCountPaginator
from assistant.querylog.stats import latency_chart_svg, latency_stats, window


@admin.register(HelpDoc)
class HelpDocAdmin(admin.ModelAdmin):
    list_display = ("title", "audience", "language", "published", "updated")
    list_filter = ("published", "audience", "language")
    search_fields = ("title", "slug", "body", "path_prefixes")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("updated", "preview")
    fieldsets = (
        (None, {"fields": ("title", "slug", "body", "preview")}),
        ("Where and who", {"fields": ("path_prefixes", "audience", "language", "published")}),
        ("History", {"fields": ("updated",)}),
    )

    @admin.display(description="Preview")
    def preview(self, obj: HelpDoc) -> str:
        if not obj.pk:
            return "Save to see a preview."
        html = render_markdown(obj.body)  # escaped and link-checked, as on the doc page
        return format_html('<div class="helpdoc-preview">{}</div>', mark_safe(html))  # noqa: S308


class BackendFilter(admin.SimpleListFilter):
    title = "backend"
    parameter_name = "backend"

    def lookups(self, request, model_admin):
        return [(name, name) for name in REGISTRY] + [("-", "none (rate limited, errors)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(backend="" if value == "-" else value)


@admin.register(QueryLog)
class QueryLogAdmin(admin.ModelAdmin):
    list_display = (
        "created",
        "question",
        "path",
        "backend",
        "cache_level",
        "status",
        "latency_ms",
        "ttft_ms",
        "helpful",
    )
    # No date_hierarchy and no filter of distinct backends read from the table: both scan the
    # whole log on every page. Dates filter by range, backends by the registry's names.
    list_filter = ("created", "status", BackendFilter, "cache_level", "helpful", "audience")
    search_fields = ("question", "path")
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def get_urls(self):
        stats = self.admin_site.admin_view(self.stats_view)  # staff only
        return [path("stats/", stats, name="assistant_stats"), *super().get_urls()]

    def stats_view(self, request):
        """The "Assistant statistics" page: latency, cache, errors and the questions."""
        name, since = window(request.GET.get("window", "24h"))
        stats = latency_stats(since=since)
        context = {
            **self.admin_site.each_context(request),
            "title": "Assistant statistics",
            "opts": self.model._meta,
            "window": name,
            "windows": ["24h", "7d", "30d"],
            "stats": stats,
            "cache_rates": sorted(stats["cache_rates"].items()),
            # Drawn from numbers and dates only: nothing user-written reaches the SVG.
            "chart": mark_safe(latency_chart_svg(stats["per_day"])),  # noqa: S308
        }
        return TemplateResponse(request, "admin/assistant/stats.html", context)

    def has_change_permission(self, request, obj=None) -> bool:
        return False
