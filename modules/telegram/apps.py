from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "modules.telegram"
    label = "telegram_module"
    verbose_name = "Telegram"
