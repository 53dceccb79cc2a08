from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Connects the receivers that log admin sign-ins and failures.
        from apps.accounts import admin_login  # noqa: F401
