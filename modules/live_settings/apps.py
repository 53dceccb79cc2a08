from django.apps import AppConfig


class LiveSettingsConfig(AppConfig):
    name = "modules.live_settings"
    label = "live_settings"
    verbose_name = "Live settings"

    def ready(self) -> None:
        from constance.signals import config_updated

        from modules.live_settings.changes import config_changed

        config_updated.connect(config_changed, dispatch_uid="modules.live_settings.config_changed")
