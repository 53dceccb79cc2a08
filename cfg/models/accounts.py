"""Sign-in and profile rules of the accounts app."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cfg.models.base import CommaList, ConfigModel, Rate

OTP_CHANNELS = ("email", "sms", "whatsapp", "telegram")
AVATAR_TYPES = ("jpeg", "png", "webp", "gif")


class AccountsConfig(ConfigModel):
    self_registration: bool = Field(default=True, description="The first verified code creates the account")
    otp_expiry_minutes: int = Field(default=10, ge=1, le=24 * 60)
    """Minutes a sign-in code stays valid"""
    otp_max_attempts: int = Field(default=5, ge=1, le=20, description="Wrong guesses allowed per code")
    otp_channels: CommaList = Field(
        default=tuple(OTP_CHANNELS), description="Channels offered; each also needs its provider"
    )
    throttle_otp_identifier: Rate = Field(
        default="5/hour", description="Code requests per email or phone from one client IP"
    )
    throttle_otp_identifier_total: Rate = Field(
        default="20/hour", description="Code requests per email or phone from all clients together"
    )
    throttle_otp_ip: Rate = Field(default="20/hour", description="Code requests per client IP")
    throttle_verify_ip: Rate = Field(default="30/hour", description="Verify attempts per client IP")
    throttle_telegram_link: Rate = Field(
        default="5/hour", description="Telegram link and unlink requests per user (each sends messages)"
    )
    throttle_telegram_confirm: Rate = Field(default="10/hour", description="Telegram link confirmations per user")
    throttle_contact_change: Rate = Field(
        default="5/hour", description="Email and phone change requests per user (each sends messages)"
    )
    throttle_contact_confirm: Rate = Field(
        default="10/hour", description="Email and phone change confirmations per user"
    )
    last_activity_interval_seconds: int = Field(default=300, ge=0, description="At most one write per user per span")
    avatar_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """Largest avatar upload in bytes"""
    avatar_types: CommaList = Field(default=("jpeg", "png", "webp"))
    """Accepted avatar content types"""
    admin_notify_signups: bool = Field(default=True, description="Tell the Telegram admin chat about new accounts")
    default_registration_source: Literal["admin", "import"] = "admin"
    """Registration source recorded when none is given"""

    @field_validator("otp_channels")
    @classmethod
    def _known_channels(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(channels) - set(OTP_CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)}; choose from {', '.join(OTP_CHANNELS)}")
        return channels

    @field_validator("avatar_types")
    @classmethod
    def _known_avatar_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        lowered = tuple(kind.lower() for kind in types)
        unknown = sorted(set(lowered) - set(AVATAR_TYPES))
        if unknown:
            raise ValueError(f"unsupported image type(s) {', '.join(unknown)}; choose from {', '.join(AVATAR_TYPES)}")
        return lowered
