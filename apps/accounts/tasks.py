from __future__ import annotations

from django.conf import settings
from django.tasks import task

from apps.accounts.models import User
from modules.telegram.client import send_telegram_message


@task
def notify_admins_of_signup(user_id: int) -> None:
    """Tell the admin chat who registered and how; never anything secret (no codes, no tokens)."""
    user = User.objects.get(pk=user_id)
    send_telegram_message(
        f"New {settings.PROJECT_NAME} account: {user} (via {user.get_registration_source_display()})",
        settings.TELEGRAM["CHAT_ID"],
    )
