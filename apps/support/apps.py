from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "apps.support"
    default_auto_field = "django.db.models.BigAutoField"
