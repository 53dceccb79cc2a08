from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


def integrations_settings(config: CoreConfig) -> dict[str, Any]:
    """TELEGRAM, TWILIO and NGROK for modules/telegram, modules/twilio and modules/ngrok; EMAIL_USE_TASKS for
    modules/email."""
    telegram = config.telegram
    twilio = config.twilio
    ngrok = config.ngrok
    return {
        "TELEGRAM": {
            "BOT_TOKEN": telegram.bot_token.get_secret_value(),
            "CHAT_ID": telegram.chat_id,
            "API_BASE_URL": telegram.api_base_url.rstrip("/"),
            "TIMEOUT": telegram.timeout,
            "MAX_RETRIES": telegram.max_retries,
            "BACKOFF_SECONDS": telegram.backoff_seconds,
            "MAX_RETRY_AFTER": telegram.max_retry_after,
        },
        "TWILIO": {
            "ACCOUNT_SID": twilio.account_sid,
            "AUTH_TOKEN": twilio.auth_token.get_secret_value(),
            "FROM_NUMBER": twilio.from_number,
            "WHATSAPP_FROM": twilio.whatsapp_from,
            "VERIFY_SERVICE_SID": twilio.verify_service_sid,
            "API_BASE_URL": twilio.api_base_url.rstrip("/"),
            "TIMEOUT": twilio.timeout,
        },
        "NGROK": {
            "AUTHTOKEN": ngrok.authtoken.get_secret_value(),
            "DOMAIN": ngrok.domain,
            "SERVER_ADDR": ngrok.server_addr,
            "CONNECT_TIMEOUT": ngrok.connect_timeout,
        },
        # A worker runs queued sends when the tasks app is on or tasks go to Redis; otherwise send inline.
        "EMAIL_USE_TASKS": config.enable_tasks or config.tasks.backend != "immediate",
    }
