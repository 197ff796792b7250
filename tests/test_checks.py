from django.core import checks


def _ids(settings_ids=None):
    return {m.id for m in checks.run_checks()}


def test_no_warnings_with_the_default_settings():
    assert not {i for i in _ids() if i.startswith("assistant.")}


def _deploy_ids():
    return {m.id for m in checks.run_checks(include_deployment_checks=True)}


def test_warns_on_local_memory_cache_when_gunicorn_starts_several_workers(settings, monkeypatch):
    """The check reads the worker count gunicorn.conf.py starts (helpdesk.serving)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert "assistant.W001" in _deploy_ids()  # gunicorn's default: 2 workers
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert "assistant.W001" not in _deploy_ids()
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "x"}}
    assert "assistant.W001" not in _deploy_ids()


def test_gunicorn_starts_the_workers_the_check_reads(monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")  # no directory made
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    config = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert config["workers"] == 3
    monkeypatch.delenv("WEB_CONCURRENCY")
    from helpdesk.serving import DEFAULT_WEB_WORKERS

    assert runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))[
        "workers"
    ] == DEFAULT_WEB_WORKERS == 2


def test_a_subclass_of_the_stream_safe_gzip_is_fine(settings):
    settings.MIDDLEWARE = ["assistant.middleware.GZipMiddleware", *settings.MIDDLEWARE]
    assert "assistant.W002" not in _ids()


def test_warns_when_plain_gzip_would_buffer_the_stream(settings):
    settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]
    assert "assistant.W002" in _ids()


def test_deploy_check_finds_a_missing_csrf_middleware_ours_or_djangos(settings):
    deploy_ids = _deploy_ids
    assert "assistant.W012" not in deploy_ids()
    ours = "assistant.middleware.CsrfViewMiddleware"
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != ours]
    assert "assistant.W012" in deploy_ids()
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware"]
    assert "assistant.W012" not in deploy_ids()
