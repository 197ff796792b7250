from django import template
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html

from assistant import conf

register = template.Library()


@register.simple_tag(takes_context=True)
def help_widget(context, live: bool = False) -> str:
    """The help widget: its CSS, its module and a mount point configured by data-* attributes.

    {% help_widget %} or {% help_widget live=True %} to ask as the user types. The server's
    limits reach the widget here (the question's length: HELP_MAX_QUESTION_CHARS).
    """
    return format_html(
        '<link rel="stylesheet" href="{css}">'
        '<div id="helpdesk-widget" data-stream-url="{stream}" '
        'data-feedback-url="{feedback}" data-hits-url="{hits}" data-debounce-ms="300" '
        'data-live="{live}" data-min-chars="3" data-max-chars="{max_chars}" '
        'data-cache-size="50" data-csrf-token="{csrf}">'
        "</div>"
        '<script type="module" src="{js}"></script>',
        css=static("assistant/widget.css"),
        js=static("assistant/widget.js"),
        stream=reverse("assistant:help-stream"),
        max_chars=int(conf.get("HELP_MAX_QUESTION_CHARS")),
        feedback=reverse("assistant:feedback"),
        hits=reverse("assistant:widget-hits"),
        live="true" if live else "false",
        csrf=get_token(context["request"]),
    )
