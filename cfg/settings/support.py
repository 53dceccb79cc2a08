from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


def support_settings(config: CoreConfig) -> dict[str, Any]:
    """SUPPORT: SLA targets, auto-close, attachment limits, live updates and notifications read by apps.support."""
    support = config.support
    return {
        "SUPPORT": {
            "FIRST_RESPONSE_MINUTES": dict(support.first_response_minutes),
            "RESOLUTION_MINUTES": dict(support.resolution_minutes),
            "AUTO_CLOSE_DAYS": support.auto_close_days,
            "ATTACHMENT_MAX_BYTES": support.attachment_max_bytes,
            "ATTACHMENTS_PER_MESSAGE": support.attachments_per_message,
            "ATTACHMENT_KINDS": list(support.attachment_kinds),
            "BODY_MAX_CHARS": support.body_max_chars,
            "TICKET_LINK": support.ticket_link or config.site_url.rstrip("/") + "/api/support/tickets/{number}/",
            "TELEGRAM_CHAT_ID": support.telegram_chat_id or config.telegram.chat_id,
            "STREAM_SECONDS": support.stream_seconds,
            "HEARTBEAT_SECONDS": support.heartbeat_seconds,
            # Live events cross web processes through Redis pub/sub when there is a Redis; else they stay in the
            # process (one process: runserver, tests).
            "EVENTS_REDIS_URL": config.redis_url,
            "THROTTLE_RATES": {"support_create": support.throttle_create, "support_reply": support.throttle_reply},
        }
    }
