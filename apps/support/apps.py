from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "apps.support"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receiver that removes an attachment's file with its row (signals.attachment_deleted).
        from apps.support import signals  # noqa: F401
