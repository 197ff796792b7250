from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Help assistant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from assistant import signals  # noqa: F401  (registers the signal handlers)
        from assistant.ops import checks  # noqa: F401  (registers the system checks)
