"""The leads app: the public capture form's spam defences, consent, embedding, the pipeline's assignment and its
notifications."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from cfg.models.base import CommaList, ConfigModel, Rate

DEFAULT_CONSENT_TEXT = "I agree to be contacted about my enquiry, and to these details being kept for that purpose."


class LeadsConfig(ConfigModel):
    throttle_submit: Rate = Field(default="10/hour", description="Lead form submissions per client IP")
    min_fill_seconds: int = Field(
        default=3, ge=0, le=600, description="Least seconds from showing the form to its submission (bots are faster)"
    )
    form_max_age: int = Field(default=86_400, ge=60, description="Seconds a signed form stays valid")
    dedup_window: int = Field(
        default=600, ge=0, description="Seconds in which the same submission again returns the same lead"
    )
    turnstile_site_key: str = Field(default="", description="Cloudflare Turnstile site key (empty: no Turnstile)")
    turnstile_secret_key: SecretStr = Field(default=SecretStr(""), description="Cloudflare Turnstile secret key")
    turnstile_verify_url: str = Field(
        default="https://challenges.cloudflare.com/turnstile/v0/siteverify",
        description="Turnstile's verify API (tests point it at a local server)",
    )
    turnstile_timeout: float = Field(
        default=5.0, gt=0, le=30, description="Seconds to wait for Turnstile's verify API before answering 503"
    )
    round_robin: bool = Field(default=False, description="Assign new leads to active staff in turn")
    round_robin_group: str = Field(
        default="", description="Group whose active staff members take new leads in turn (empty: all active staff)"
    )
    telegram_chat_id: str = Field(default="", description="Chat told of new leads (empty: TELEGRAM__CHAT_ID)")
    embed_origins: CommaList = Field(
        default=(),
        description="Origins allowed to show the lead form in an iframe, e.g. https://www.example.com (empty: this "
        "site only)",
    )
    consent_text: str = Field(
        default=DEFAULT_CONSENT_TEXT,
        max_length=2000,
        description="The consent a person ticks on the lead form, recorded with each lead (empty: no consent box)",
    )
    consent_version: str = Field(
        default="1",
        max_length=50,
        description="Version of the consent text, recorded with each lead; change it with the text",
    )

    @field_validator("embed_origins")
    @classmethod
    def _origins_have_scheme(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") > 2:
                raise ValueError(f"origin {origin!r} is not scheme://host[:port]; write it as https://www.example.com")
        return tuple(origin.rstrip("/") for origin in origins)

    @property
    def turnstile_enabled(self) -> bool:
        return bool(self.turnstile_site_key and self.turnstile_secret_key.get_secret_value())
