"""Parsing and checking API bodies; every failure is a 400 ApiError."""

import json
from dataclasses import dataclass

from django.http import HttpRequest

from . import conf
from .errors import ApiError


@dataclass(frozen=True)
class HelpInput:
    question: str
    path: str
    hints: str
    language: str


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def json_object(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _invalid("The body is not valid UTF-8.") from exc
    except ValueError as exc:
        raise _invalid("The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object.")
    return body


def _optional_str(body: dict, name: str, limit: int) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"'{name}' must be a string.")
    return value[:limit]


def help_input(request: HttpRequest) -> HelpInput:
    body = json_object(request)
    question = body.get("question")
    if question is None:
        raise _invalid("'question' is required.")
    if not isinstance(question, str):
        raise _invalid("'question' must be a string.")
    question = question.strip()
    if not question:
        raise _invalid("'question' is empty.")
    limit = int(conf.get("HELP_MAX_QUESTION_CHARS"))
    if len(question) > limit:
        raise _invalid(f"'question' is longer than {limit} characters.")
    path = _optional_str(body, "path", 500) or "/"
    if not path.startswith("/"):
        path = "/" + path
    # Hints are cut again, at a word boundary, by the prompt builder.
    hints = _optional_str(body, "hints", 4000)
    language = _optional_str(body, "lang", 10).split("-")[0].lower()
    return HelpInput(question=question, path=path, hints=hints, language=language)


def feedback_input(request: HttpRequest) -> tuple[str, bool]:
    body = json_object(request)
    answer_id, helpful = body.get("id"), body.get("helpful")
    if not isinstance(answer_id, str) or not answer_id:
        raise _invalid("'id' must be the answer's id.")
    if not isinstance(helpful, bool):
        raise _invalid("'helpful' must be true or false.")
    return answer_id, helpful


def widget_hits_input(request: HttpRequest) -> list[tuple[str, str]]:
    """[(path, question)] of answers the widget served from its own cache (at most 50)."""
    body = json_object(request)
    hits = body.get("hits")
    if not isinstance(hits, list) or len(hits) > 50:
        raise _invalid("'hits' must be a list of at most 50 items.")
    out = []
    for item in hits:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise _invalid("Each hit needs a 'question' string.")
        out.append((_optional_str(item, "path", 500) or "/", item["question"][:500]))
    return out
