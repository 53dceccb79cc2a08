from django.apps import AppConfig, apps

# Admin titles and breadcrumbs say what a page is for, not which library provides it.
APP_TITLES = {"constance": "Live settings", "token_blacklist": "Sign-in tokens"}


class UnfoldModuleConfig(AppConfig):
    name = "modules.unfold"
    # "unfold" is the library's own label.
    label = "unfold_module"
    verbose_name = "Admin"

    def ready(self) -> None:
        for label, title in APP_TITLES.items():
            if label in apps.app_configs:
                apps.get_app_config(label).verbose_name = title
