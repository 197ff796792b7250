import os

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from . import demo

# Under /assistant/api/ these answer JSON too (404s and 405s are turned into JSON by
# assistant.middleware.ApiErrorMiddleware).
handler400 = "assistant.errors.bad_request"
handler500 = "assistant.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("assistant/", include("assistant.urls")),
    # The demo site's language switch (Django's set_language: it sets the language cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", demo.home, name="home"),
    path("clients/", demo.clients, name="clients"),
    path("clients/new/", demo.client_new, name="client-new"),
    path("invoices/", demo.invoices, name="invoices"),
    path("invoices/new/", demo.invoice_new, name="invoice-new"),
    path("settings/", demo.account_settings, name="settings"),
]

if os.environ.get("HELPDESK_BENCH") == "1":
    # `make bench` only: the baseline, a Django JSON view doing no work (POST, CSRF-checked
    # like the help endpoint).
    urlpatterns.append(path("bench/noop/", lambda request: JsonResponse({"ok": True})))
