from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "modules.pages"
    label = "pages"
    verbose_name = "Pages"
