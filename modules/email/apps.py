from django.apps import AppConfig


class EmailConfig(AppConfig):
    name = "modules.email"
    label = "email_module"
    verbose_name = "Email"
