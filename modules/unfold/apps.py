from types import ModuleType

from django.apps import AppConfig, apps

from modules.spreadsheet_formats import register_deferred_xlsx

# Admin titles and breadcrumbs say what a page is for, not which library provides it.
APP_TITLES = {"constance": "Live settings", "token_blacklist": "Sign-in tokens"}


class UnfoldModuleConfig(AppConfig):
    name = "modules.unfold"
    # "unfold" is the library's own label.
    label = "unfold_module"
    verbose_name = "Admin"

    def __init__(self, app_name: str, app_module: ModuleType | None) -> None:
        super().__init__(app_name, app_module)
        # Here, not in ready(): the admin's ready() imports the admin modules, and with them import-export's formats.
        register_deferred_xlsx()

    def ready(self) -> None:
        for label, title in APP_TITLES.items():
            if label in apps.app_configs:
                apps.get_app_config(label).verbose_name = title
