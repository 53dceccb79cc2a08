from django.apps import AppConfig


class NgrokConfig(AppConfig):
    name = "modules.ngrok"
    label = "ngrok_module"
    verbose_name = "ngrok"
