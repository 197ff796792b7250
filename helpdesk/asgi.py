import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_application = get_asgi_application()

from assistant.web.timing import first_byte_timer  # noqa: E402  (after Django's setup)

application = first_byte_timer(django_application)
