"""System checks: what a host site must have (errors naming the setting, at migrate and
runserver, rather than a 500 at the first question), and what production should add (deploy
warnings, each with the settings to copy: docs/integration.md). Middlewares are compared as
classes (ours subclass Django's), not as dotted paths."""

import os

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.gzip import GZipMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

# What the app uses of Django: its models' users and content types, and the static files app
# that serves the widget's script under runserver (and collects it for production).
REQUIRED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.staticfiles"]
REQUEST_PROCESSOR = "django.template.context_processors.request"


def _middlewares() -> list[type]:
    classes = []
    for path in settings.MIDDLEWARE:
        try:
            classes.append(import_string(path))
        except ImportError:
            continue  # Django's own check reports it
    return classes


@register()
def check_required_settings(app_configs, **kwargs):
    errors = [
        Error(
            f"The help assistant needs {name!r} in INSTALLED_APPS.",
            hint=f"Add {name!r} to INSTALLED_APPS.",
            id="assistant.E001",
        )
        for name in REQUIRED_APPS
        if not apps.is_installed(name)
    ]
    django_templates = [
        t for t in settings.TEMPLATES if t.get("BACKEND", "").endswith("DjangoTemplates")
    ]
    if not any(
        REQUEST_PROCESSOR in t.get("OPTIONS", {}).get("context_processors", [])
        for t in django_templates
    ):
        errors.append(
            Error(
                f"The {{% help_widget %}} tag reads the request: {REQUEST_PROCESSOR!r} is not "
                "in TEMPLATES' context_processors.",
                hint=f"Add {REQUEST_PROCESSOR!r} to TEMPLATES[0]['OPTIONS']['context_processors'].",
                id="assistant.E002",
            )
        )
    if not getattr(settings, "STATIC_URL", None):
        errors.append(
            Error(
                "STATIC_URL is not set: the widget's script and styles are static files.",
                hint='Set STATIC_URL = "static/".',
                id="assistant.E003",
            )
        )
    return errors


# WEB_CONCURRENCY is gunicorn's own worker count (and helpdesk.serving's); unless it says one,
# a production server is taken to start several.
def _several_workers() -> bool:
    return (os.environ.get("WEB_CONCURRENCY") or "").strip() != "1"


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """Several workers, each with a cache of its own: single-flight, breakers, rate limits and
    the answer cache would act per process."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if _several_workers() and backend.endswith(("LocMemCache", "DummyCache")):
        workers = os.environ.get("WEB_CONCURRENCY") or "unset: several"
        return [
            Warning(
                f"The cache is per process while several web workers serve "
                f"(WEB_CONCURRENCY: {workers}).",
                hint='Use a shared cache, e.g. CACHES = {"default": {"BACKEND": '
                '"django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}} (the '
                "demo site: set REDIS_URL); or WEB_CONCURRENCY=1.",
                id="assistant.W001",
            )
        ]
    return []


@register(deploy=True)
def check_asgi(app_configs, **kwargs):
    if getattr(settings, "ASGI_APPLICATION", None):
        return []
    return [
        Warning(
            "No ASGI_APPLICATION: served through WSGI, an answer reaches the reader only once "
            "it is complete (the stream endpoint is buffered; the JSON endpoint is the same).",
            hint='Serve <project>.asgi.application with an ASGI server (gunicorn -k '
            'uvicorn_worker.UvicornWorker, or uvicorn) and set ASGI_APPLICATION = '
            '"<project>.asgi.application".',
            id="assistant.W003",
        )
    ]


@register(Tags.security, deploy=True)
def check_csp(app_configs, **kwargs):
    from csp.middleware import CSPMiddleware

    if any(issubclass(cls, CSPMiddleware) for cls in _middlewares()):
        return []
    return [
        Warning(
            "No Content-Security-Policy: nothing would stop a script injected into a page.",
            hint='Add "csp.middleware.CSPMiddleware" to MIDDLEWARE and CONTENT_SECURITY_POLICY = '
            '{"DIRECTIVES": {"default-src": ["\'self\'"], "object-src": ["\'none\'"], '
            '"base-uri": ["\'none\'"], "frame-ancestors": ["\'none\'"]}} (the widget needs '
            "nothing inline).",
            id="assistant.W004",
        )
    ]


@register(deploy=True)
def check_celery_worker(app_configs, **kwargs):
    from assistant import tasks

    conf = tasks.embed_docs.app.conf
    if conf.broker_url and not conf.task_always_eager:
        return []
    return [
        Warning(
            "No Celery worker: the sections' embeddings are computed in a thread of the web "
            "process; model warm-up, prefetch, the statistics' daily rollups and the log's "
            "retention never run.",
            hint="Give the project a Celery app with CELERY_BROKER_URL (e.g. Redis), run "
            "`celery -A <app> worker` and `celery -A <app> beat`, with the beat schedule of "
            "helpdesk/settings.py (CELERY_BEAT_SCHEDULE).",
            id="assistant.W005",
        )
    ]


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
