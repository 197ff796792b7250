from django import template
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def help_widget(context, live: bool = False) -> str:
    """The help widget: its CSS, its module and a mount point configured by data-* attributes.

    {% help_widget %} or {% help_widget live=True %} to ask as the user types.
    """
    return format_html(
        '<link rel="stylesheet" href="{css}">'
        '<div id="helpdesk-widget" data-stream-url="{stream}" data-help-url="{help}" '
        'data-feedback-url="{feedback}" data-hits-url="{hits}" data-debounce-ms="300" '
        'data-live="{live}" data-min-chars="3" data-cache-size="50" data-csrf-token="{csrf}">'
        "</div>"
        '<script type="module" src="{js}"></script>',
        css=static("assistant/widget.css"),
        js=static("assistant/widget.js"),
        stream=reverse("assistant:help-stream"),
        help=reverse("assistant:help"),
        feedback=reverse("assistant:feedback"),
        hits=reverse("assistant:widget-hits"),
        live="true" if live else "false",
        csrf=get_token(context["request"]),
    )
