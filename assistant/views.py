"""Thin HTTP views: parse, call one service, serialize. The help endpoints are async: an
open stream waits on its answer without holding a thread. Errors travel as ApiError, turned
into JSON by ApiErrorMiddleware."""

import hmac
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from assistant import conf, metrics
from assistant.answering import ratelimit
from assistant.answering.service import Answer, Question, ask
from assistant.errors import ApiError, error_response
from assistant.helpdocs.selectors import (
    audience_for,
    guess_language,
    helpdoc_html,
    visible_audiences,
)
from assistant.models import HelpDoc
from assistant.ops import health
from assistant.querylog.records import feedback_record, record_widget_hits
from assistant.runtime import aio
from assistant.web import sse, streams
from assistant.web.validation import feedback_input, help_input, widget_hits_input
from assistant.web.visitors import Visitor, client_ip, visitor_of


def _visitor(request: HttpRequest) -> Visitor:
    return visitor_of(request.user, client_ip(request.META))


def language_of(question: str, given: str, request: HttpRequest) -> str:
    """The language to answer in: the one given (`lang`), else what the question's words
    show, else the page's (Django's LocaleMiddleware: the reader's cookie or browser)."""
    page = (getattr(request, "LANGUAGE_CODE", "") or "en").split("-")[0]
    return given or guess_language(question, default=page)


async def _question(request: HttpRequest, endpoint: str) -> Question:
    data = help_input(request)
    user = await request.auser()
    return Question(
        question=data.question,
        path=data.path,
        hints=data.hints,
        language=language_of(data.question, data.language, request),
        history=data.history,
        user=user,
        visitor=visitor_of(user, client_ip(request.META)),
        endpoint=endpoint,
    )


@require_POST
async def help_view(request: HttpRequest) -> HttpResponse:
    answer = await ask(await _question(request, "help"))
    return JsonResponse(await answer.collect())


async def _event_stream(answer: Answer) -> AsyncIterator[bytes]:
    # The view's sync work is done (and the middlewares' too: the body is read after them).
    aio.release_request_thread()
    async with streams.counted():
        yield sse.comment("answer on its way")
        # Closed when the client goes away too: leaving the flight stops the model.
        async with aclosing(answer.stream()) as events:
            async for event in events:
                if event is None:
                    yield sse.comment("waiting for the model")
                else:
                    yield sse.event(event.kind, answer.outcome.wire(event))


@require_POST
async def help_stream_view(request: HttpRequest) -> HttpResponse:
    question = await _question(request, "stream")
    streams.check()
    answer = await ask(question)
    body = _event_stream(answer)
    if isinstance(request, WSGIRequest):
        # Under WSGI (runserver) the loop this view runs on ends with it, and the answer's
        # producer with it: the stream is read whole here (WSGI would buffer it anyway).
        body = [chunk async for chunk in body]
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


@require_POST
def feedback_view(request: HttpRequest) -> HttpResponse:
    answer_id, helpful = feedback_input(request)
    visitor = _visitor(request)
    if not feedback_record(answer_id=answer_id, helpful=helpful, visitor_ids=visitor.ids):
        raise ApiError(404, "not_found", gettext("No such answer."))
    return HttpResponse(status=204)


@require_POST
def widget_hits_view(request: HttpRequest) -> HttpResponse:
    answer_ids = widget_hits_input(request)
    visitor = _visitor(request)
    ratelimit.check(visitor.limit_key, "HELP_HITS_RATE_LIMIT", "hit reports")
    record_widget_hits(answer_ids=answer_ids, visitor=visitor.id, visitor_ids=visitor.ids)
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
            return error_response(403, "forbidden", gettext("Invalid metrics token."))
    elif not request.user.is_authenticated:
        message = gettext("Staff session or bearer token required.")
        return error_response(401, "unauthorized", message)
    elif not request.user.is_staff:
        return error_response(403, "forbidden", gettext("Staff only."))
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
    html = helpdoc_html(doc=doc, audience=audience_for(request.user))
    return render(request, "assistant/doc.html", {"doc": doc, "body_html": html})
