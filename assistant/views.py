"""Thin HTTP views: parse, call one service, serialize."""

import hmac

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import conf, health, metrics, sse
from .errors import ApiError, error_response
from .markdown import render_markdown
from .models import HelpDoc
from .ratelimit import RateLimited
from .selectors import audience_for, visible_audiences
from .services import (
    Reply,
    answer_question,
    answer_question_stream,
    client_ip,
    feedback_record,
    record_outcome,
    record_widget_hits,
    visitor_of,
)
from .validation import feedback_input, help_input, widget_hits_input


def _visitor(request: HttpRequest) -> str:
    return visitor_of(request.user, client_ip(request.META))


def _rate_limited(exc: RateLimited, endpoint: str) -> HttpResponse:
    outcome = getattr(exc, "outcome", None)
    if outcome is not None:
        record_outcome(outcome, endpoint)
    return error_response(
        429,
        "rate_limited",
        f"Too many questions; try again in {exc.retry_after} s.",
        {"Retry-After": str(exc.retry_after)},
    )


def _question(request: HttpRequest) -> dict:
    data = help_input(request)
    return {
        "question": data.question,
        "path": data.path,
        "hints": data.hints,
        "language": data.language,
        "user": request.user,
        "visitor": _visitor(request),
    }


@require_POST
def help_view(request: HttpRequest) -> HttpResponse:
    question = _question(request)
    try:
        outcome, body, error = answer_question(**question)
    except RateLimited as exc:
        return _rate_limited(exc, "help")
    record_outcome(outcome, "help")  # queued for the log writer: costs the request ~nothing
    if error is not None:
        status = 503 if error["code"] == "unavailable" else 502
        return error_response(status, error["code"], error["message"])
    return JsonResponse(body)


def _event_stream(reply: Reply):
    try:
        yield sse.comment("answer on its way")
        for kind, data in reply.events:
            yield sse.comment("waiting for the model") if kind == "ping" else sse.event(kind, data)
    finally:
        # Runs when the client goes away too: leaving the flight stops the model.
        reply.events.close()
        record_outcome(reply.outcome, "stream")


@require_POST
def help_stream_view(request: HttpRequest) -> HttpResponse:
    question = _question(request)
    try:
        reply = answer_question_stream(**question)
    except RateLimited as exc:
        return _rate_limited(exc, "stream")
    response = StreamingHttpResponse(_event_stream(reply), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


@require_POST
def feedback_view(request: HttpRequest) -> HttpResponse:
    answer_id, helpful = feedback_input(request)
    if not feedback_record(answer_id=answer_id, helpful=helpful, visitor=_visitor(request)):
        raise ApiError(404, "not_found", "No such answer.")
    return HttpResponse(status=204)


@require_POST
def widget_hits_view(request: HttpRequest) -> HttpResponse:
    hits = widget_hits_input(request)
    record_widget_hits(hits=hits, user=request.user, visitor=_visitor(request))
    return HttpResponse(status=204)


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    report = health.report()
    return JsonResponse(report, status=200 if report["can_answer"] else 503)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = str(conf.get("ASSISTANT_METRICS_TOKEN") or "")
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        if not token or not hmac.compare_digest(auth[7:].strip(), token):
            return error_response(403, "forbidden", "Invalid metrics token.")
    elif not request.user.is_authenticated:
        return error_response(401, "unauthorized", "Staff session or bearer token required.")
    elif not request.user.is_staff:
        return error_response(403, "forbidden", "Staff only.")
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


def doc_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A help doc as a page: the target of the answers' source links."""
    doc = get_object_or_404(
        HelpDoc,
        slug=slug,
        published=True,
        audience__in=visible_audiences(audience_for(request.user)),
    )
    return render(
        request, "assistant/doc.html", {"doc": doc, "body_html": render_markdown(doc.body)}
    )
