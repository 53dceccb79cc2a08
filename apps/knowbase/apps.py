from django.apps import AppConfig


class KnowbaseConfig(AppConfig):
    name = "apps.knowbase"
    label = "knowbase"
    verbose_name = "Knowledge base"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.knowbase import checks  # noqa: F401  (registers the embedding column check)
