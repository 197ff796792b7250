from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from assistant.backends import REGISTRY
from assistant.helpdocs.importing import docs_import, files_in_zip
from assistant.helpdocs.markdown import render_markdown
from assistant.models import Audience, HelpDoc, QueryLog
from assistant.querylog.admin_paging import CappedCountPaginator
from assistant.querylog.stats import latency_chart_svg, latency_stats, window

# The largest help-centre archive the admin accepts (its members are checked one by one too).
ZIP_UPLOAD_MAX_BYTES = 50 * 1024 * 1024


class ImportZipForm(forms.Form):
    archive = forms.FileField(
        label="Help centre",
        help_text="A .zip of Markdown (.md, .mdx) files, in folders as you like.",
    )
    audience = forms.ChoiceField(
        choices=Audience.choices,
        initial=Audience.PUBLIC,
        help_text="For files whose front matter names none.",
    )
    language = forms.CharField(
        max_length=10,
        required=False,
        help_text="For files whose front matter names none (empty: detected from each text).",
    )
    prune = forms.BooleanField(
        required=False,
        help_text="Unpublish the docs imported earlier from a zip of this name whose file it "
        "no longer holds.",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run (report, write nothing)")

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if archive.size > ZIP_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {ZIP_UPLOAD_MAX_BYTES} bytes.")
        return archive


@admin.register(HelpDoc)
class HelpDocAdmin(admin.ModelAdmin):
    list_display = ("title", "audience", "language", "published", "updated")
    list_filter = ("published", "audience", "language")
    search_fields = ("title", "slug", "body", "path_prefixes")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("updated", "preview", "source", "source_hash", "imported_at")
    fieldsets = (
        (None, {"fields": ("title", "slug", "description", "keywords", "body", "preview")}),
        ("Where and who", {"fields": ("path_prefixes", "audience", "language", "published")}),
        ("History", {"fields": ("updated", "source", "source_hash", "imported_at")}),
    )
    change_list_template = "admin/assistant/helpdoc/change_list.html"

    def get_urls(self):
        importer = self.admin_site.admin_view(self.import_view)
        return [path("import/", importer, name="assistant_helpdoc_import"), *super().get_urls()]

    def import_view(self, request):
        """Import a help centre from an uploaded .zip, as `manage.py import_docs` does."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        report = None
        form = ImportZipForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            files, errors = files_in_zip(data["archive"], data["archive"].name)
            report = docs_import(
                files=files,
                errors=errors,
                scopes=[f"zip:{data['archive'].name}/"],
                audience=data["audience"],
                language=data["language"],
                prune=data["prune"],
                dry_run=data["dry_run"],
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import help docs",
            "opts": self.model._meta,
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/assistant/helpdoc/import.html", context)

    @admin.display(description="Preview")
    def preview(self, obj: HelpDoc) -> str:
        if not obj.pk:
            return "Save to see a preview."
        html = render_markdown(obj.body, obj.title)  # link-checked, as on the doc page
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
