"""Every API error is JSON from here: {"error": {"code", "message"}}."""

from django.http import JsonResponse
from django.utils.translation import gettext


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def from_exception(exc: ApiError) -> JsonResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def is_api_path(path: str) -> bool:
    return path.startswith("/assistant/api/")


def csrf_failure(request, reason: str = "", template_name: str = "403_csrf.html"):
    """CSRF failures under /assistant/api/ answer JSON; elsewhere Django's own page."""
    if is_api_path(request.path):
        message = gettext("The page is out of date: reload it and ask again.")
        return error_response(403, "csrf_failed", f"{message} ({reason})")
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason, template_name=template_name)


def bad_request(request, exception=None):
    """Django's 400 page (e.g. a disallowed Host header), as JSON under the API."""
    from django.views.defaults import bad_request as default

    if is_api_path(request.path):
        return error_response(400, "bad_request", gettext("The request was malformed."))
    return default(request, exception)


def server_error(request):
    from django.views.defaults import server_error as default

    if is_api_path(request.path):
        return error_response(500, "internal", gettext("Something went wrong on our side."))
    return default(request)
