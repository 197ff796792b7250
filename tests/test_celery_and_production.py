"""Celery tasks on a real worker, Redis outages, production settings and the compose file."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from assistant import tasks
from assistant.models import QueryLog
from celery_app import app
from tests.conftest import log_row
from tests.ollama_standin import EXPORT_TOKENS

ROOT = Path(__file__).resolve().parent.parent
Q = {"question": "How do I export invoices?", "path": "/invoices/"}


@contextmanager
def redis_worker(redis_url: str):
    """A real Celery worker thread consuming from Redis."""
    from celery.contrib.testing.worker import start_worker

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "result_backend")}
    app.conf.update(broker_url=redis_url, task_always_eager=False, result_backend=redis_url)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
    finally:
        app.conf.update(saved)


@pytest.mark.django_db
def test_warm_up_on_a_real_worker_loads_ollama_with_the_real_options(
    ask, ollama, redis_url, settings
):
    settings.OLLAMA_KEEP_ALIVE = "5m"
    ask(Q)  # a real question first, to compare with
    question_body = ollama.chat_bodies[0]
    ollama.reset()
    with redis_worker(redis_url):
        tasks.warm_up.delay()
        assert ollama.arrived.wait(20), "the worker never called Ollama"
    warm = ollama.chat_bodies[0]
    assert warm["messages"] == []
    assert warm["keep_alive"] == "5m"
    assert warm["options"] == question_body["options"]
    assert warm["model"] == question_body["model"]


@pytest.mark.django_db
def test_prefetch_fills_the_cache_for_the_top_questions(ask, ollama, settings):
    ollama.reset(tokens=list(EXPORT_TOKENS))
    for _ in range(3):
        log_row(question="how do i export invoices", path="/invoices/7/", doc_matched=True)
    log_row(
        created=timezone.now() - timedelta(days=2), question="old question", doc_matched=True
    )
    assert tasks.prefetch_common_questions.apply().get() == {
        "answered": 1,
        "skipped": 0,
        "failed": 0,
    }
    assert ollama.chat_calls == 1
    body = ask(Q).json()
    assert body["cached"] is True and body["backend"] == "ollama"
    assert ollama.chat_calls == 1
    # still cached: the next run skips it
    assert tasks.prefetch_common_questions.apply().get()["skipped"] == 1


@pytest.mark.django_db
def test_retention_task_deletes_old_logs_only(settings):
    settings.HELP_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    log_row(created=now - timedelta(days=31), question="old")
    log_row(created=now - timedelta(days=29), question="new")
    assert tasks.purge_old_query_logs.apply().get() == 1
    assert list(QueryLog.objects.values_list("question", flat=True)) == ["new"]


@pytest.mark.django_db
def test_the_purge_deletes_in_short_batches(settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assistant.ops import upkeep

    settings.HELP_LOG_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=40)
    QueryLog.objects.bulk_create(
        QueryLog(created=old, question=f"old {i}", audience="public", status="ok")
        for i in range(12)
    )
    log_row(question="new")
    with CaptureQueriesContext(connection) as queries:
        assert upkeep.query_logs_purge(batch=5) == 12
    deletes = [q for q in queries if q["sql"].startswith('DELETE FROM "assistant_querylog"')]
    assert len(deletes) == 3  # 5 + 5 + 2, each its own statement
    assert list(QueryLog.objects.values_list("question", flat=True)) == ["new"]


def _settings_in_subprocess(expr: str, **env) -> str:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({expr}, default=str))"
    )
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full_env.update(DJANGO_SETTINGS_MODULE="helpdesk.settings", **env)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_beat_schedule_holds_the_tasks_at_their_intervals():
    schedule = _settings_in_subprocess(
        "{k: [v['task'], v['schedule'].total_seconds()] for k, v in "
        "settings.CELERY_BEAT_SCHEDULE.items()}"
    )
    assert schedule == {
        "assistant-warm-up": ["assistant.tasks.warm_up", 240.0],
        "assistant-prefetch": ["assistant.tasks.prefetch_common_questions", 900.0],
        "assistant-roll-up-logs": ["assistant.tasks.roll_up_query_logs", 600.0],
        "assistant-purge-logs": ["assistant.tasks.purge_old_query_logs", 86400.0],
    }
    changed = _settings_in_subprocess(
        "settings.CELERY_BEAT_SCHEDULE['assistant-warm-up']['schedule'].total_seconds()",
        HELP_WARM_UP_EVERY="60",
    )
    assert changed == 60.0
    for task in ("warm_up", "prefetch_common_questions", "roll_up_query_logs",
                 "purge_old_query_logs"):
        assert f"assistant.tasks.{task}" in app.tasks


def test_without_redis_tasks_run_eagerly_and_the_cache_is_local():
    conf = _settings_in_subprocess(
        "[settings.CELERY_TASK_ALWAYS_EAGER, settings.CACHES['default']['BACKEND']]"
    )
    assert conf == [True, "django.core.cache.backends.locmem.LocMemCache"]
    conf = _settings_in_subprocess(
        "[settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['OPTIONS']['IGNORE_EXCEPTIONS'], "
        "settings.DATABASES['default']['ENGINE']]",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
    )
    assert conf == [False, "redis://127.0.0.1:6379/3", True, "django.db.backends.postgresql"]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["help", "help/stream"])
def test_redis_down_slows_answers_but_never_breaks_them(ask, demo_docs, settings, endpoint):
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    settings.REDIS_URL = dead
    from assistant.runtime import redis_async

    redis_async.reset()
    try:
        for _ in range(2):
            r = ask(Q, endpoint=endpoint)
            assert r.status_code == 200
            body = r.json() if endpoint == "help" else r.streamed.decode()
            assert "Export PDF" in json.dumps(body)
    finally:
        redis_async.reset()


def test_check_deploy_is_clean_with_production_env():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="helpdesk.settings",
        DEBUG="0",
        SECRET_KEY="x" * 20 + "-prod-Secret-Key-1234567890abcdef",
        ALLOWED_HOSTS="help.example.com",
        SECURE_SSL_REDIRECT="1",
        SECURE_COOKIES="1",
        SECURE_HSTS_SECONDS="31536000",
        CSRF_TRUSTED_ORIGINS="https://help.example.com",
        REDIS_URL="redis://127.0.0.1:6379/15",  # read, not reached, by the checks
    )
    deploy_check = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    out = subprocess.run(deploy_check, env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # Without Redis, gunicorn's workers would each keep a cache of their own: said.
    no_redis = {k: v for k, v in env.items() if k != "REDIS_URL"}
    out = subprocess.run(deploy_check, env=no_redis, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "assistant.W001" in out.stdout + out.stderr
    env.pop("SECRET_KEY")
    out = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode != 0 and "SECRET_KEY must be set" in out.stderr


def test_settings_come_from_the_environment_with_their_defaults_in_one_place():
    """settings.py sets an assistant setting only when its variable is in the environment
    (typed like its default); every default lives in assistant.conf.DEFAULTS."""
    expr = (
        "{n: getattr(settings, n) for n in __import__('assistant.conf').conf.DEFAULTS "
        "if hasattr(settings, n)}"
    )
    assert _settings_in_subprocess(expr) == {}
    typed = _settings_in_subprocess(
        expr, HELP_TIMEOUT="3.5", ASSISTANT_BACKENDS=" docs, ollama ", HELP_QUEUE_MAX="",
        OLLAMA_URL="http://a:1,http://b:2",
    )
    assert typed == {
        "HELP_TIMEOUT": 3.5,
        "ASSISTANT_BACKENDS": ["docs", "ollama"],
        "OLLAMA_URL": "http://a:1,http://b:2",
    }


def test_compose_file_wires_the_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "redis", "postgres", "ollama", "ollama-pull"} <= set(services)
    assert "gunicorn -c gunicorn.conf.py" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A celery_app worker")
    assert services["beat"]["command"].startswith("celery -A celery_app beat")
    assert "pull" in services["ollama-pull"]["entrypoint"]
    for name in ("web", "worker", "redis", "postgres", "ollama"):
        assert "healthcheck" in services[name], name
    env = services["web"]["environment"]
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "OLLAMA_URL",
        "OLLAMA_MODEL",
        "OLLAMA_KEEP_ALIVE",
        "ASSISTANT_BACKENDS",
        "SECRET_KEY",
        "HELP_TIMEOUT",
        "HELP_CACHE_TTL",
    ):
        assert name in env, name
    assert env["OLLAMA_URL"] == "http://ollama:11434"
    # The app's settings are passed through, not given a second default here; the chain (no
    # embedded model in the image) and the model the pull service fetches are compose's own.
    from assistant.conf import DEFAULTS

    with_defaults = {
        name
        for name, value in env.items()
        if name in DEFAULTS and value is not None and ":-" in str(value) and not
        str(value).endswith(":-}")
    }
    assert with_defaults == {"ASSISTANT_BACKENDS", "OLLAMA_MODEL"}
    assert services["worker"]["environment"] == env  # one env for web, worker and beat
    conf = (ROOT / "gunicorn.conf.py").read_text()
    assert 'worker_class = "helpdesk.asgi_worker.Worker"' in conf
    assert 'wsgi_app = "helpdesk.asgi:application"' in conf  # (gunicorn's name for the app)


@pytest.mark.django_db
def test_the_suite_uses_a_database_of_its_own(settings):
    """Whichever test runs first or alone: never the developer's db.sqlite3 or the database
    DATABASE_URL names."""
    name = str(settings.DATABASES["default"]["NAME"])
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert name.endswith(".pytest-db.sqlite3")
    else:
        assert name.startswith("test_")


def test_every_request_s_cache_object_shares_one_redis_client():
    """Django makes a cache object per request; with Redis they share one redis-py client
    (each would copy redis-py's response callbacks, about 13 KB, for the request's length)."""
    expr = (
        "[__import__('django.core.cache').core.cache.caches.create_connection('default')"
        ".client.get_client(write=True) is __import__('django.core.cache').core.cache.caches"
        ".create_connection('default').client.get_client(write=True)]"
    )
    assert _settings_in_subprocess(expr, REDIS_URL="redis://127.0.0.1:6379/15") == [True]
