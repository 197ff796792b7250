"""Parsing and checking API bodies; every failure is a 400 ApiError."""

import json
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.translation import gettext

from assistant import conf
from assistant.errors import ApiError


@dataclass(frozen=True)
class HelpInput:
    question: str
    path: str
    hints: str
    language: str
    history: tuple[str, ...] = ()  # the earlier turns' answer ids, oldest first


# The earlier turns a question may lean on.
MAX_TURNS = 3


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


# The largest API body: 50 widget hits of 500-character paths and questions in a 3-byte
# script fit (150 KB); past it a 413 before any parsing.
MAX_BODY_BYTES = 256 * 1024


def _too_large() -> ApiError:
    message = gettext("The body is larger than {size} bytes.").format(size=MAX_BODY_BYTES)
    return ApiError(413, "too_large", message)


def json_object(request: HttpRequest) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig as exc:  # past Django's DATA_UPLOAD_MAX_MEMORY_SIZE
        raise _too_large() from exc
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _invalid(gettext("The body is not valid UTF-8.")) from exc
    except RecursionError as exc:  # nesting deeper than the parser's stack
        raise _invalid(gettext("The body is nested too deeply.")) from exc
    except ValueError as exc:
        raise _invalid(gettext("The body is not valid JSON.")) from exc
    if not isinstance(body, dict):
        raise _invalid(gettext("The body must be a JSON object."))
    return body


def _optional_str(body: dict, name: str, limit: int) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(gettext("'{name}' must be a string.").format(name=name))
    return value[:limit]


def help_input(request: HttpRequest) -> HelpInput:
    body = json_object(request)
    question = body.get("question")
    if question is None:
        raise _invalid(gettext("'question' is required."))
    if not isinstance(question, str):
        raise _invalid(gettext("'question' must be a string."))
    question = question.strip()
    if not question:
        raise _invalid(gettext("'question' is empty."))
    limit = int(conf.get("HELP_MAX_QUESTION_CHARS"))
    if len(question) > limit:
        raise _invalid(
            gettext("'question' is longer than {limit} characters.").format(limit=limit)
        )
    path = _optional_str(body, "path", 500) or "/"
    if not path.startswith("/"):
        path = "/" + path
    # Hints are cut again, at a word boundary, by the prompt builder.
    hints = _optional_str(body, "hints", 4000)
    language = _optional_str(body, "lang", 10).split("-")[0].lower()
    history = _history(body.get("history"), limit)
    return HelpInput(
        question=question, path=path, hints=hints, language=language, history=history
    )


def _history(value, limit: int) -> tuple[str, ...]:
    """The answer ids of the earlier turns (their text is the server's own record: the
    client's copy of each question is only checked)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TURNS:
        raise _invalid(
            gettext("'history' must be a list of at most {turns} turns.").format(turns=MAX_TURNS)
        )
    ids = []
    for turn in value:
        if not isinstance(turn, dict):
            raise _invalid(
                gettext("Each turn of 'history' must be an object with 'question' and 'id'.")
            )
        question, answer_id = turn.get("question", ""), turn.get("id", "")
        if not isinstance(question, str) or not isinstance(answer_id, str):
            raise _invalid(gettext("A turn's 'question' and 'id' must be strings."))
        if len(question) > limit:
            raise _invalid(
                gettext("A turn's 'question' is longer than {limit} characters.").format(
                    limit=limit
                )
            )
        if answer_id:
            ids.append(answer_id[:64])
    return tuple(ids)


def feedback_input(request: HttpRequest) -> tuple[str, bool]:
    body = json_object(request)
    answer_id, helpful = body.get("id"), body.get("helpful")
    if not isinstance(answer_id, str) or not answer_id:
        raise _invalid(gettext("'id' must be the answer's id."))
    if not isinstance(helpful, bool):
        raise _invalid(gettext("'helpful' must be true or false."))
    return answer_id, helpful


def widget_hits_input(request: HttpRequest) -> list[str]:
    """The answer ids the widget replayed from its own cache (at most 50). A hit's `path` and
    `question` are not trusted: the answer the server issued under that id says them."""
    body = json_object(request)
    hits = body.get("hits")
    if not isinstance(hits, list) or len(hits) > 50:
        raise _invalid(gettext("'hits' must be a list of at most 50 items."))
    ids = []
    for item in hits:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _invalid(gettext("Each hit needs the 'id' of the answer it replayed."))
        ids.append(item["id"][:64])
    return ids
