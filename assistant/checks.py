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


# Django's deploy checks look for its middlewares by path; ours (assistant.middleware) are the
# same classes run on the event loop, so those checks are silenced in settings and done here.
_SECURITY_MIDDLEWARES = {  # Django's check id: (class, Django's module, our check id)
    "security.W001": ("SecurityMiddleware", "django.middleware.security.", "assistant.W010"),
    "security.W002": ("XFrameOptionsMiddleware", "django.middleware.clickjacking.", "assistant.W011"),  # noqa: E501
    "security.W003": ("CsrfViewMiddleware", "django.middleware.csrf.", "assistant.W012"),
}


@register(Tags.security, deploy=True)
def check_security_middlewares(app_configs, **kwargs):
    warnings = []
    for django_id, (name, django_module, check_id) in _SECURITY_MIDDLEWARES.items():
        ours = f"assistant.middleware.{name}"
        if ours not in settings.MIDDLEWARE and django_module + name not in settings.MIDDLEWARE:
            warnings.append(
                Warning(
                    f"Neither {ours} nor Django's {name} is in MIDDLEWARE.",
                    hint=f"Django's own check {django_id} is silenced in favour of this one.",
                    id=check_id,
                )
            )
    return warnings
