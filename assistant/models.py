import hashlib
import json
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from assistant.helpdocs import parsing
from assistant.helpdocs.text import detect_language


class Audience(models.TextChoices):
    PUBLIC = "public", "Everyone"
    AUTHENTICATED = "authenticated", "Signed-in users"
    STAFF = "staff", "Staff only"


# Each audience sees its own docs and those of the audiences before it.
AUDIENCE_LEVELS = [Audience.PUBLIC, Audience.AUTHENTICATED, Audience.STAFF]


class HelpDoc(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.CharField(max_length=500, blank=True)
    keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text="Words readers use for what this doc describes, comma separated (for example "
        "customer, where the doc says client): they count like its title.",
    )
    body = models.TextField(help_text="Markdown.")
    path_prefixes = models.TextField(
        blank=True,
        help_text="Page paths this doc is about, one per line (for example /invoices/).",
    )
    audience = models.CharField(
        max_length=20, choices=Audience.choices, default=Audience.PUBLIC, db_index=True
    )
    language = models.CharField(
        max_length=10,
        blank=True,
        default="",
        db_index=True,
        help_text="en, fr… Leave it empty to detect it from the doc's text.",
    )
    published = models.BooleanField(default=True, db_index=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)
    # Where an imported doc came from ("" for a doc written in the admin): its file, the hash
    # of what the import wrote (an edit since then makes the next import a conflict), when.
    source = models.CharField(max_length=500, blank=True, db_index=True)
    source_hash = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    # The body read into sections (helpdocs.parsing) when it is saved, not per question.
    sections = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        self.sections = self.read_sections()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "sections"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("assistant:doc", kwargs={"slug": self.slug})

    def read_sections(self) -> dict:
        parsed = parsing.read(self.body, self.title)
        return {
            "v": parsing.VERSION,
            "sections": [s.as_json() for s in parsed.sections],
            # What the text says its language is, for when nobody set the doc's.
            "detected": detect_language(f"{self.title}\n{self.body}"),
        }

    @property
    def text_language(self) -> str:
        """The language the doc is written in: as set, else detected from its text, else
        the site's default."""
        if self.language:
            return self.language
        stored = self.sections if isinstance(self.sections, dict) else {}
        detected = stored["detected"] if "detected" in stored else self.read_sections()["detected"]
        return detected or settings.LANGUAGE_CODE.split("-")[0]

    def parsed_sections(self) -> list[parsing.Section]:
        """The doc's sections (read again if stored by an older reader)."""
        stored = self.sections if isinstance(self.sections, dict) else {}
        if stored.get("v") != parsing.VERSION:
            stored = self.read_sections()
        return [parsing.Section.from_json(s) for s in stored["sections"]]

    def content_hash(self) -> str:
        """What an import writes, hashed: equal hashes mean nothing changed since."""
        fields = [self.title, self.slug, self.description, self.keywords, self.body]
        fields += [self.path_prefixes]
        fields += [self.audience, self.language, str(self.published)]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()

    @property
    def prefixes(self) -> list[str]:
        return [p.strip() for p in self.path_prefixes.replace(",", "\n").splitlines() if p.strip()]


class SectionVector(models.Model):
    """A section's embedding (assistant.helpdocs.semantic), by a hash of the model and the
    text embedded: any doc holding the same text reuses it."""

    key = models.CharField(max_length=64, primary_key=True)
    vector = models.BinaryField()  # float16

    def __str__(self) -> str:
        return self.key


class CacheLevel(models.TextChoices):
    NONE = "none", "Not cached"
    SERVER = "server", "Server cache"
    SINGLE_FLIGHT = "single_flight", "Single-flight"
    WIDGET = "widget", "Widget cache"


class QueryStatus(models.TextChoices):
    OK = "ok", "Answered by a model"
    FALLBACK = "fallback", "Answered from the docs"
    NOT_COVERED = "not_covered", "Not covered by the docs"
    ERROR = "error", "Error"
    RATE_LIMITED = "rate_limited", "Rate limited"


class Coverage(models.TextChoices):
    """How well the docs cover a question (helpdocs.selectors decides; the API's `coverage`)."""

    COVERED = "covered", "Covered"
    MAYBE = "maybe", "Partly covered"
    NONE = "none", "Not covered"


class QueryLog(models.Model):
    """One question asked, written after the answer went out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(db_index=True)
    path = models.CharField(max_length=500, blank=True)
    question = models.CharField(max_length=500, db_index=True, help_text="As typed, normalised.")
    resolved = models.CharField(
        max_length=500, blank=True, help_text="The standalone question answered (a follow-up's)."
    )
    follow_up = models.BooleanField(default=False, help_text="Resolved with an earlier turn.")
    audience = models.CharField(max_length=20, choices=Audience.choices)
    backend = models.CharField(max_length=20, blank=True, db_index=True)
    model = models.CharField(max_length=200, blank=True)
    cache_level = models.CharField(
        max_length=20, choices=CacheLevel.choices, default=CacheLevel.NONE, db_index=True
    )
    status = models.CharField(max_length=20, choices=QueryStatus.choices, db_index=True)
    latency_ms = models.FloatField(null=True)
    ttft_ms = models.FloatField(null=True)
    prompt_chars = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(null=True)
    tokens_out = models.PositiveIntegerField(null=True)
    doc_ids = models.JSONField(default=list, blank=True)
    sections = models.JSONField(default=list, blank=True, help_text="The sources cited.")
    top_doc = models.ForeignKey(HelpDoc, null=True, blank=True, on_delete=models.SET_NULL)
    doc_matched = models.BooleanField(
        null=True, help_text="Did the docs cover the question (decided before any model call)?"
    )
    coverage = models.CharField(
        max_length=10,
        choices=Coverage.choices,
        blank=True,
        help_text="How well the docs cover the question (blank: logged before it was kept).",
    )
    guard_removed = models.PositiveIntegerField(
        default=0, help_text="Spans the grounding guard removed from the model's answer."
    )
    guard_kinds = models.JSONField(default=dict, blank=True, help_text="Removed spans by kind.")
    helpful = models.BooleanField(null=True)
    visitor = models.CharField(
        max_length=64,
        blank=True,
        help_text="A keyed hash of the user, or of the IP with a key of the day.",
    )

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["created", "backend"])]

    def __str__(self) -> str:
        return self.question


class QueryRollup(models.Model):
    """One day of the query log per backend, cache level and status: counts, the guard's
    removals and fixed-bucket latency histograms (assistant.querylog.histogram). The statistics page
    reads these for whole days and the log itself only for the rest."""

    day = models.DateField(db_index=True)
    backend = models.CharField(max_length=20, blank=True)
    cache_level = models.CharField(max_length=20, choices=CacheLevel.choices)
    status = models.CharField(max_length=20, choices=QueryStatus.choices)
    n = models.PositiveIntegerField(default=0)
    latency_hist = models.JSONField(default=list, blank=True)
    ttft_hist = models.JSONField(default=list, blank=True)
    guard_answers = models.PositiveIntegerField(default=0)
    guard_removed = models.PositiveIntegerField(default=0)
    guard_kinds = models.JSONField(default=dict, blank=True)
    follow_ups = models.PositiveIntegerField(default=0)
    maybe = models.PositiveIntegerField(default=0, help_text="Questions the docs partly cover.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "backend", "cache_level", "status"], name="assistant_rollup_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.backend or '-'} {self.cache_level} {self.status}: {self.n}"


class QuestionRollup(models.Model):
    """One day of one question: how many distinct visitors asked it (rate-limited asks aside),
    how many times the docs did not cover it, how many of its answers were voted unhelpful
    (votes cast before the day's last rollup, about a day after it ended)."""

    day = models.DateField(db_index=True)
    question = models.CharField(max_length=500)
    visitors = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    unhelpful = models.PositiveIntegerField(default=0)
    maybe = models.PositiveIntegerField(default=0, help_text="Asks the docs partly covered.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "question"], name="assistant_rollup_question")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.question}"


class RolledDay(models.Model):
    """A day whose rollups are written: the statistics read it from them."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.day)
