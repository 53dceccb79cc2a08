from django.apps import AppConfig


class CfgConfig(AppConfig):
    """cfg as a Django app: the core management commands and the pgvector migration."""

    name = "cfg"
    verbose_name = "Configuration"
