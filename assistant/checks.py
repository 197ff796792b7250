"""System checks for settings that would quietly break single-flight, breakers or streaming."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

from . import conf


@register(Tags.caches)
def check_shared_cache(app_configs, **kwargs):
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if int(conf.get("HELP_WEB_WORKERS")) > 1 and backend.endswith(("LocMemCache", "DummyCache")):
        return [
            Warning(
                "The cache is per process while several web workers are expected.",
                hint="Set REDIS_URL: single-flight, breakers and rate limits then act per "
                "process, and each worker caches answers of its own.",
                id="assistant.W001",
            )
        ]
    return []


@register()
def check_stream_buffering(app_configs, **kwargs):
    warnings = []
    if "django.middleware.gzip.GZipMiddleware" in settings.MIDDLEWARE:
        warnings.append(
            Warning(
                "Django's GZipMiddleware compresses the answer stream and holds tokens back.",
                hint="Use assistant.middleware.GZipMiddleware, which skips text/event-stream.",
                id="assistant.W002",
            )
        )
    if "django.middleware.http.ConditionalGetMiddleware" in settings.MIDDLEWARE:
        warnings.append(
            Warning(
                "ConditionalGetMiddleware may buffer streamed responses to compute an ETag.",
                id="assistant.W003",
            )
        )
    return warnings
