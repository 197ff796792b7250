"""Settings for helpdesk, read from the environment with the defaults of SPEC.md."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from assistant import conf as assistant_conf

BASE_DIR = Path(__file__).resolve().parent.parent

# The checkout's .env, when there is one: `make run` writes it (DEBUG=1 and a generated
# development key) so that every manage.py command works in another terminal as written.
# Variables set in the environment win; production writes none, or its own from .env.example.
# HELPDESK_ENV_FILE names another file, or none when empty (the tests: their own settings).
ENV_FILE = os.environ.get("HELPDESK_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    load_dotenv(ENV_FILE, override=False)


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# --- Core -------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key"  # noqa: S105  (DEBUG only: `make run`)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "assistant",
]

MIDDLEWARE = [
    # Django's middlewares, run on the event loop under ASGI (assistant.middleware): those
    # that only touch headers and cookies always, the session and messages ones until they
    # write the session.
    "assistant.middleware.SecurityMiddleware",
    "assistant.middleware.CSPMiddleware",
    # WhiteNoise, runnable on the event loop under ASGI (static paths only go to a thread).
    "assistant.middleware.StaticFilesMiddleware",
    # Django's GZip, except for event streams (it would hold tokens back).
    "assistant.middleware.GZipMiddleware",
    "assistant.middleware.SessionMiddleware",
    # The reader's language: the language cookie (the demo's switch), else Accept-Language.
    "assistant.middleware.LocaleMiddleware",
    "assistant.middleware.CommonMiddleware",
    "assistant.middleware.CsrfViewMiddleware",
    "assistant.middleware.AuthenticationMiddleware",
    "assistant.middleware.MessageMiddleware",
    "assistant.middleware.XFrameOptionsMiddleware",
    "assistant.middleware.ApiErrorMiddleware",
]

# Django's deploy checks for these three look for its own middleware paths; ours are the same
# classes run on the event loop, checked by assistant.ops.checks.check_security_middlewares.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"
CSRF_FAILURE_VIEW = "assistant.errors.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# No persistent connections: under ASGI each request's sync work runs in a thread of its
# own, and a connection kept per thread would leak with it (Django's advice for ASGI).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # make run's SQLite: an import's commits and the background embedding thread's writes
    # wait for each other (5 s, the default, ran out under load: "database is locked").
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "helpdesk",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                # A Redis outage makes answers slower, never errors.
                "IGNORE_EXCEPTIONS": True,
                # Under ASGI each request's sync work runs in a thread of its own: in a burst,
                # threads wait for one of the 50 connections instead of failing past them.
                "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
                "CONNECTION_POOL_KWARGS": {"max_connections": 50, "timeout": 2},
                # One redis-py client per pool, not one per request (assistant.runtime).
                "CONNECTION_FACTORY": "assistant.runtime.cache_clients.SharedClientFactory",
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Assistant --------------------------------------------------------------
# Every HELP_*, OLLAMA_*, OPENAI_* and ASSISTANT_* setting, from the environment variable of
# the same name; their defaults live in one place, assistant/conf.py (DEFAULTS), with what
# each one means. Not set here, a setting takes its default there.
globals().update(assistant_conf.from_environment(os.environ))

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without a broker (`make run`) tasks run in-process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "assistant-warm-up": {
        "task": "assistant.tasks.warm_up",
        "schedule": timedelta(seconds=int(env("HELP_WARM_UP_EVERY", "240"))),
    },
    "assistant-prefetch": {
        "task": "assistant.tasks.prefetch_common_questions",
        "schedule": timedelta(seconds=int(env("HELP_PREFETCH_EVERY", "900"))),
    },
    "assistant-roll-up-logs": {
        "task": "assistant.tasks.roll_up_query_logs",
        "schedule": timedelta(seconds=int(env("HELP_ROLLUP_EVERY", "600"))),
    },
    "assistant-purge-logs": {
        "task": "assistant.tasks.purge_old_query_logs",
        "schedule": timedelta(seconds=int(env("HELP_PURGE_EVERY", "86400"))),
    },
}

# --- Static files and i18n --------------------------------------------------
STATIC_URL = "static/"
# The demo's own files; the widget's come with the app (assistant/static/, the app finder).
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Production (after collectstatic): STATIC_MANIFEST=1 serves hashed, compressed files from
# STATIC_ROOT. Otherwise whitenoise serves static/ as it is, no collectstatic needed.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
LANGUAGE_CODE = "en"
# The widget and its server texts (the app's catalog, assistant/locale/) and the demo site
# (locale/), in English and French.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "/admin/login/"

# --- Security (production sets these through the environment) ---------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A strict Content-Security-Policy on every page (django-csp): scripts, styles, fetches and
# images from this origin only, nothing inline, no eval, never in a frame. The widget renders
# model output as text; this is what would stop a future slip from running anything.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
