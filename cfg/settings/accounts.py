from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig
from cfg.settings.admin_login import admin_login_settings


def accounts_settings(config: CoreConfig) -> dict[str, Any]:
    """ACCOUNTS: the sign-in and profile rules read by apps.accounts; the user model; the admin sign-in lock-out."""
    accounts = config.accounts
    return {
        # accounts is always installed (cfg.catalog): the user model lives there.
        "AUTH_USER_MODEL": "accounts.User",
        "ACCOUNTS": {
            "SELF_REGISTRATION": accounts.self_registration,
            "OTP_EXPIRY_MINUTES": accounts.otp_expiry_minutes,
            "OTP_MAX_ATTEMPTS": accounts.otp_max_attempts,
            "OTP_CHANNELS": list(accounts.otp_channels),
            "THROTTLE_RATES": {
                "otp_identifier": accounts.throttle_otp_identifier,
                "otp_identifier_total": accounts.throttle_otp_identifier_total,
                "otp_ip": accounts.throttle_otp_ip,
                "verify_ip": accounts.throttle_verify_ip,
                "telegram_link": accounts.throttle_telegram_link,
                "telegram_confirm": accounts.throttle_telegram_confirm,
                "contact_change": accounts.throttle_contact_change,
                "contact_confirm": accounts.throttle_contact_confirm,
            },
            "LAST_ACTIVITY_INTERVAL_SECONDS": accounts.last_activity_interval_seconds,
            "AVATAR_MAX_BYTES": accounts.avatar_max_bytes,
            "AVATAR_TYPES": list(accounts.avatar_types),
            "ADMIN_NOTIFY_SIGNUPS": accounts.admin_notify_signups,
            "DEFAULT_REGISTRATION_SOURCE": accounts.default_registration_source,
        },
        **admin_login_settings(config),
    }
