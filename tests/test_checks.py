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


def _messages(deploy=False):
    return {m.id: m.msg for m in checks.run_checks(include_deployment_checks=deploy)}


def test_a_host_site_missing_a_required_app_gets_an_error_naming_it(settings):
    static = "django.contrib.staticfiles"
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != static]
    found = _messages()
    assert "django.contrib.staticfiles" in found["assistant.E001"]
    assert any(m.level >= checks.ERROR for m in checks.run_checks() if m.id == "assistant.E001")


def test_the_widget_tag_without_the_request_context_processor_is_an_error(settings):
    engine = settings.TEMPLATES[0]
    processors = [
        p for p in engine["OPTIONS"]["context_processors"] if not p.endswith(".request")
    ]
    options = {**engine["OPTIONS"], "context_processors": processors}
    settings.TEMPLATES = [{**engine, "OPTIONS": options}]
    assert "django.template.context_processors.request" in _messages()["assistant.E002"]


def test_the_demo_settings_have_what_the_app_requires():
    assert not {i for i in _ids() if i.startswith("assistant.E")}


def test_deploy_checks_name_what_production_adds(settings):
    """WSGI only, no CSP, no Celery worker (the tests run tasks eagerly): each said, with
    the settings to copy."""
    settings.ASGI_APPLICATION = None
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "CSP" not in m]
    found = _messages(deploy=True)
    assert "ASGI_APPLICATION" in found["assistant.W003"]
    assert "Content-Security-Policy" in found["assistant.W004"]
    assert "Celery worker" in found["assistant.W005"]
    settings.ASGI_APPLICATION = "helpdesk.asgi.application"
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    found = _messages(deploy=True)
    assert "assistant.W003" not in found and "assistant.W004" not in found
