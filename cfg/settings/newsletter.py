from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


def batch_size(configured: int, send_rate: float, task_timeout: int) -> int:
    """A batch paces itself at the send rate, so it lasts batch_size / send_rate seconds: capped to fit in half its
    task's timeout, since a batch cut short by the timeout is tried again while it still sends."""
    return max(1, min(configured, int(send_rate * task_timeout / 2)))


def newsletter_settings(config: CoreConfig) -> dict[str, Any]:
    """NEWSLETTER: double opt-in, the sending rate and batches read by apps.newsletter."""
    newsletter = config.newsletter
    return {
        "NEWSLETTER": {
            "FROM_EMAIL": newsletter.from_email or config.email.default_from,
            "CONFIRM_MAX_AGE": newsletter.confirm_max_age,
            "SEND_RATE": newsletter.send_rate,
            "BATCH_SIZE": batch_size(newsletter.batch_size, newsletter.send_rate, config.tasks.timeout),
            "QUEUE": newsletter.queue,
            "STALL_SECONDS": newsletter.stall_seconds,
            "THROTTLE_RATES": {"newsletter_subscribe": newsletter.throttle_subscribe},
            "CONFIRM_RESEND_SECONDS": newsletter.confirm_resend_seconds,
        },
        # django-anymail's tracking webhooks (bounces, complaints) check this basic-auth pair; with none set, every
        # webhook call is refused (apps.newsletter.webhooks).
        "ANYMAIL": {
            "WEBHOOK_SECRET": newsletter.webhook_secret.get_secret_value() or None,
            "MAILGUN_WEBHOOK_SIGNING_KEY": newsletter.mailgun_webhook_signing_key.get_secret_value() or None,
        },
    }
