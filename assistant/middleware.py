import logging

import csp.middleware
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import Http404
from django.middleware import clickjacking, common, csrf, locale, security
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware
from django.utils.translation import gettext
from whitenoise.middleware import WhiteNoiseMiddleware

from assistant.errors import ApiError, error_response, from_exception, is_api_path

log = logging.getLogger(__name__)


class _OnTheLoop:
    """Lets a middleware run on the event loop under ASGI (no hop to a thread per request):
    its __call__ hands async requests to __acall__ once `_adapt` has seen the chain is async."""

    sync_capable = True
    async_capable = True

    def _adapt(self, get_response) -> None:
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)


class _SyncAndAsync(_OnTheLoop):
    """A middleware whose only work is `handle(request, response)`."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._adapt(get_response)

    def __call__(self, request):
        if self._async:
            return self.__acall__(request)
        return self.handle(request, self.get_response(request))

    async def __acall__(self, request):
        return self.handle(request, await self.get_response(request))

    def handle(self, request, response):
        return response


class StaticFilesMiddleware(_OnTheLoop, WhiteNoiseMiddleware):
    """WhiteNoise that an async chain can run on the event loop: only paths under
    STATIC_URL go to WhiteNoise (in a thread: it reads files); the rest pass straight on.
    (Plain WhiteNoise is sync-only, which would put every request, streams included, through
    a thread of its own under ASGI.)"""

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self._adapt(get_response)

    def __call__(self, request):
        if self._async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if request.path_info.startswith(self.static_prefix):
            response = await sync_to_async(self._static_response)(request)
            if response is not None:
                return response
        return await self.get_response(request)

    def _static_response(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        return self.serve(static_file, request) if static_file is not None else None


class ApiErrorMiddleware(_SyncAndAsync):
    """Under /assistant/api/, 404s, 405s, domain errors and crashes answer JSON, not HTML."""

    def handle(self, request, response):
        if not is_api_path(request.path) or response.get("Content-Type", "").startswith(
            ("application/json", "text/event-stream")
        ):
            return response
        if response.status_code == 404:
            return error_response(404, "not_found", gettext("No such endpoint."))
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            message = gettext("Use {method}.").format(method=allowed or gettext("another method"))
            return error_response(405, "method_not_allowed", message, {"Allow": allowed})
        if response.status_code >= 400:
            return error_response(response.status_code, "error", gettext("The request failed."))
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if isinstance(exception, ApiError):
            return from_exception(exception)
        if isinstance(exception, Http404):
            return error_response(404, "not_found", gettext("Not found."))
        log.exception("unhandled error under the API", exc_info=exception)
        return error_response(500, "internal", gettext("Something went wrong on our side."))


class _GZipMiddleware(DjangoGZipMiddleware):
    """Django's GZip for pages and JSON, never for event streams: compression would hold
    tokens back until a whole compressed block is ready."""

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/event-stream"):
            return response
        return super().process_response(request, response)


def on_the_loop(cls: type) -> type:
    """`cls`, a Django MiddlewareMixin, with its hooks run on the event loop under ASGI.

    MiddlewareMixin runs every hook through sync_to_async: two hops to a thread per middleware
    per request, which under a burst of requests costs more than the requests themselves. The
    middlewares given to this only read and set headers and cookies (no database, no I/O).
    The session and messages middlewares go to a thread only when they write.
    """

    class OnTheLoop(cls):
        async def __acall__(self, request):
            response = self.process_request(request) if hasattr(self, "process_request") else None
            response = response or await self.get_response(request)
            if hasattr(self, "process_response"):
                response = self.process_response(request, response)
            return response

    if hasattr(cls, "process_view"):

        async def process_view(self, request, view_func, view_args, view_kwargs):
            return cls.process_view(self, request, view_func, view_args, view_kwargs)

        OnTheLoop.process_view = process_view
    OnTheLoop.__name__ = OnTheLoop.__qualname__ = cls.__name__
    OnTheLoop.__doc__ = f"{cls.__module__}.{cls.__name__}, run on the event loop."
    return OnTheLoop


class SessionMiddleware(sessions.SessionMiddleware):
    """Django's, with the session saved in a thread only when it changed (a database
    write); otherwise its hooks only set up a lazy session and read flags."""

    async def __acall__(self, request):
        self.process_request(request)
        response = await self.get_response(request)
        if request.session.modified or self._save_every_request():
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)

    @staticmethod
    def _save_every_request() -> bool:
        from django.conf import settings

        return settings.SESSION_SAVE_EVERY_REQUEST


class MessageMiddleware(messages.MessageMiddleware):
    """Django's, with the messages stored in a thread only when some were added or read
    (the session storage writes the database)."""

    async def __acall__(self, request):
        self.process_request(request)
        response = await self.get_response(request)
        storage = request._messages
        if storage.used or storage.added_new:
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)


SecurityMiddleware = on_the_loop(security.SecurityMiddleware)
GZipMiddleware = on_the_loop(_GZipMiddleware)
CommonMiddleware = on_the_loop(common.CommonMiddleware)
# Reads the language cookie and Accept-Language, sets Content-Language: no I/O.
LocaleMiddleware = on_the_loop(locale.LocaleMiddleware)
CsrfViewMiddleware = on_the_loop(csrf.CsrfViewMiddleware)
AuthenticationMiddleware = on_the_loop(auth.AuthenticationMiddleware)
XFrameOptionsMiddleware = on_the_loop(clickjacking.XFrameOptionsMiddleware)
# django-csp's: it builds a header string from the settings (and a nonce if a page asks).
CSPMiddleware = on_the_loop(csp.middleware.CSPMiddleware)
