import markdown
from django.contrib import admin
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from .models import HelpDoc, QueryLog


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
        # Raw HTML in the Markdown is escaped, as on the public doc page.
        html = markdown.markdown(escape(obj.body), extensions=["sane_lists"])
        return format_html('<div class="helpdoc-preview">{}</div>', mark_safe(html))  # noqa: S308


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
    list_filter = ("status", "backend", "cache_level", "helpful", "audience")
    search_fields = ("question", "path")
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
