import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import Http404
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from .errors import ApiError, error_response, from_exception, is_api_path

log = logging.getLogger(__name__)


class _SyncAndAsync:
    """A middleware that runs on the event loop under ASGI (no hop to a thread per request)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self.__acall__(request)
        return self.handle(request, self.get_response(request))

    async def __acall__(self, request):
        return self.handle(request, await self.get_response(request))

    def handle(self, request, response):
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise that an async chain can run on the event loop: only paths under
    STATIC_URL go to WhiteNoise (in a thread: it reads files); the rest pass straight on.
    (Plain WhiteNoise is sync-only, which would put every request, streams included, through
    a thread of its own under ASGI.)"""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

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
            return error_response(404, "not_found", "No such endpoint.")
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            return error_response(
                405, "method_not_allowed", f"Use {allowed or 'another method'}.", {"Allow": allowed}
            )
        if response.status_code >= 400:
            return error_response(response.status_code, "error", "The request failed.")
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if isinstance(exception, ApiError):
            return from_exception(exception)
        if isinstance(exception, Http404):
            return error_response(404, "not_found", "Not found.")
        log.exception("unhandled error under the API", exc_info=exception)
        return error_response(500, "internal", "Something went wrong on our side.")


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's GZip for pages and JSON, never for event streams: compression would hold
    tokens back until a whole compressed block is ready."""

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/event-stream"):
            return response
        return super().process_response(request, response)
