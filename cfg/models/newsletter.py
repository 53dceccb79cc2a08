"""The newsletter app: double opt-in, sending rate and batches, tracking."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from cfg.models.base import ConfigModel, Rate


class NewsletterConfig(ConfigModel):
    from_email: str = Field(default="", description="Sender of campaigns, confirmations (empty: EMAIL__DEFAULT_FROM)")
    confirm_max_age: int = Field(default=7 * 86_400, ge=600, description="Seconds a confirmation link stays valid")
    send_rate: float = Field(default=10, gt=0, le=10_000, description="Most campaign messages sent per second")
    batch_size: int = Field(default=100, ge=1, le=5000, description="Recipients one sending task takes at a time")
    queue: str = Field(default="default", description="Task queue of the sending tasks")
    stall_seconds: int = Field(
        default=600,
        ge=60,
        le=86_400,
        description="Seconds a sending campaign may go without progress before the periodic catch-up re-queues it",
    )
    throttle_subscribe: Rate = Field(default="10/hour", description="Subscriptions per client IP")
    confirm_resend_seconds: int = Field(
        default=600, ge=0, le=86_400, description="Seconds before asking again re-sends a subscriber's confirmation"
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="user:password the email provider's bounce webhook sends (basic auth); empty: webhooks refused",
    )
    mailgun_webhook_signing_key: SecretStr = Field(
        default=SecretStr(""), description="Mailgun's HTTP webhook signing key (Mailgun's bounce webhook needs it)"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_is_user_and_password(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and (":" not in secret or not secret.split(":", 1)[0] or not secret.split(":", 1)[1]):
            raise ValueError("write it as user:password (both parts non-empty), e.g. hooks:a-long-random-password")
        return value
