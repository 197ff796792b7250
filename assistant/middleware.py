import logging

from django.http import Http404
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware

from .errors import ApiError, error_response, from_exception, is_api_path

log = logging.getLogger(__name__)


class ApiErrorMiddleware:
    """Under /assistant/api/, 404s, 405s, domain errors and crashes answer JSON, not HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
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
