from typing import Any

from django.apps import AppConfig


class LlmAppConfig(AppConfig):
    name = "modules.llm"
    label = "llm"
    verbose_name = "LLM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        setting_changed.connect(_forget_providers, dispatch_uid="modules.llm.forget_providers")


def _forget_providers(*, setting: str, **kwargs: Any) -> None:
    """The providers are built once per process from settings.LLM: a test that overrides it gets new ones."""
    if setting == "LLM":
        from modules.llm.providers import forget_providers

        forget_providers()
