"""System checks for settings that would quietly break single-flight, breakers or streaming.
Middlewares are compared as classes (ours subclass Django's), not as dotted paths."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.gzip import GZipMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

from helpdesk.serving import web_workers


def _middlewares() -> list[type]:
    classes = []
    for path in settings.MIDDLEWARE:
        try:
            classes.append(import_string(path))
        except ImportError:
            continue  # Django's own check reports it
    return classes


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """gunicorn starts several workers (helpdesk.serving) while each would cache alone."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if web_workers() > 1 and backend.endswith(("LocMemCache", "DummyCache")):
        return [
            Warning(
                f"The cache is per process while gunicorn starts {web_workers()} web workers.",
                hint="Set REDIS_URL: single-flight, breakers and rate limits then act per "
                "process, and each worker caches answers of its own.",
                id="assistant.W001",
            )
        ]
    return []


@register()
def check_stream_buffering(app_configs, **kwargs):
    from assistant.middleware import GZipMiddleware as StreamSafeGZip

    for cls in _middlewares():
        if issubclass(cls, GZipMiddleware) and not issubclass(cls, StreamSafeGZip):
            return [
                Warning(
                    f"{cls.__module__}.{cls.__name__} compresses the answer stream and holds "
                    "tokens back.",
                    hint="Use assistant.middleware.GZipMiddleware, which skips "
                    "text/event-stream.",
                    id="assistant.W002",
                )
            ]
    return []


# Django's deploy checks look for its middlewares by path; ours (assistant.middleware) are the
# same classes run on the event loop, so those checks are silenced in settings and done here.
_SECURITY_MIDDLEWARES = [  # (Django's class, Django's check id, our check id)
    (SecurityMiddleware, "security.W001", "assistant.W010"),
    (XFrameOptionsMiddleware, "security.W002", "assistant.W011"),
    (CsrfViewMiddleware, "security.W003", "assistant.W012"),
]


@register(Tags.security, deploy=True)
def check_security_middlewares(app_configs, **kwargs):
    installed = _middlewares()
    return [
        Warning(
            f"No {django_cls.__name__} (Django's, or ours in assistant.middleware) in MIDDLEWARE.",
            hint=f"Django's own check {django_id} is silenced in favour of this one.",
            id=check_id,
        )
        for django_cls, django_id, check_id in _SECURITY_MIDDLEWARES
        if not any(issubclass(cls, django_cls) for cls in installed)
    ]
