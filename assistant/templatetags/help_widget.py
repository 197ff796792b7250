from django import template
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, json_script
from django.utils.translation import get_language, gettext

from assistant import conf

register = template.Library()


def widget_texts() -> dict[str, str]:
    """Every text the widget shows, in the page's language (the catalog: locale/). They reach
    the widget in the page itself, as data: no request more, nothing the strict
    Content-Security-Policy would have to allow."""
    return {
        "launcher": gettext("Help"),
        "dialog": gettext("Help assistant"),
        "title": gettext("Ask for help"),
        "close": gettext("Close help"),
        "input": gettext("Your question"),
        "placeholder": gettext("How do I…?"),
        "ask": gettext("Ask"),
        "stop": gettext("Stop"),
        "stopped": gettext("Stopped."),
        "new": gettext("New conversation"),
        "answer": gettext("Answer"),
        "sources": gettext("Sources"),
        "helpful_question": gettext("Was this helpful?"),
        "yes": gettext("Yes"),
        "no": gettext("No"),
        # A button's name starts with its visible text ("Label in Name", WCAG 2.5.3).
        "helpful": gettext("Yes, this was helpful"),
        "not_helpful": gettext("No, this was not helpful"),
        "thinking": gettext("Thinking…"),
        "next_in_queue": gettext("Yours is the next question for the assistant…"),
        "ahead_one": gettext("1 question ahead of yours…"),
        "ahead_many": gettext("{n} questions ahead of yours…"),
        "offline": gettext("You seem to be offline. Check your connection and try again."),
        "unreachable": gettext("The assistant could not be reached. Please try again."),
        "failed": gettext("The answer failed. Please try again."),
        "docs_only": gettext("The assistant is answering from the help docs only right now."),
        "rate_limited": gettext("You're asking a lot of questions. Please wait {n} seconds."),
        "rate_limited_unknown": gettext(
            "You're asking a lot of questions. Please wait a few seconds."
        ),
        "request_failed": gettext("The request failed."),
        "thanks": gettext("Thanks for your feedback."),
        "feedback_failed": gettext("Feedback could not be sent."),
        "answering": gettext("Answering: {question}"),
    }


@register.simple_tag(takes_context=True)
def help_widget(context, live: bool = False) -> str:
    """The help widget: its CSS, its texts (JSON data), its module and a mount point
    configured by data-* attributes.

    {% help_widget %} or {% help_widget live=True %} to ask as the user types. The server's
    limits reach the widget here (the question's length: HELP_MAX_QUESTION_CHARS).
    """
    return format_html(
        '<link rel="stylesheet" href="{css}">'
        "{texts}"
        '<div id="helpdesk-widget" data-stream-url="{stream}" '
        'data-feedback-url="{feedback}" data-hits-url="{hits}" data-debounce-ms="300" '
        'data-live="{live}" data-min-chars="3" data-max-chars="{max_chars}" '
        'data-cache-size="50" data-csrf-token="{csrf}" data-lang="{lang}">'
        "</div>"
        '<script type="module" src="{js}"></script>',
        css=static("assistant/widget.css"),
        texts=json_script(widget_texts(), "helpdesk-widget-texts"),
        js=static("assistant/widget.js"),
        stream=reverse("assistant:help-stream"),
        max_chars=int(conf.get("HELP_MAX_QUESTION_CHARS")),
        feedback=reverse("assistant:feedback"),
        hits=reverse("assistant:widget-hits"),
        live="true" if live else "false",
        csrf=get_token(context["request"]),
        lang=(get_language() or "en").split("-")[0],
    )
