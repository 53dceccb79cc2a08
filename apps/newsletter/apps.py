from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "apps.newsletter"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receiver that counts a campaign's unsubscribes (signals.unsubscribed).
        from apps.newsletter import tracking  # noqa: F401
