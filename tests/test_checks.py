from django.core import checks


def _ids(settings_ids=None):
    return {m.id for m in checks.run_checks()}


def test_no_warnings_with_the_default_settings():
    assert not {i for i in _ids() if i.startswith("assistant.")}


def test_warns_on_local_memory_cache_with_several_workers(settings):
    settings.HELP_WEB_WORKERS = 4
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "assistant.W001" in _ids()


def test_warns_when_plain_gzip_would_buffer_the_stream(settings):
    settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]
    assert "assistant.W002" in _ids()


def test_deploy_check_finds_a_missing_csrf_middleware_ours_or_djangos(settings):
    def deploy_ids():
        return {m.id for m in checks.run_checks(include_deployment_checks=True)}

    assert "assistant.W012" not in deploy_ids()
    ours = "assistant.middleware.CsrfViewMiddleware"
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != ours]
    assert "assistant.W012" in deploy_ids()
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware"]
    assert "assistant.W012" not in deploy_ids()
