"""django-axes for the accounts app (cfg.settings.accounts): it locks out guessing at the admin's password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cfg.catalog import provided
from cfg.models.core import CoreConfig


def admin_login_settings(config: CoreConfig) -> dict[str, Any]:
    security = config.security
    return {
        # Axes' backend goes first: it refuses a locked-out pair before the password is checked. Only password
        # sign-in calls authenticate(), which in this project is the admin's form (the API signs in with codes).
        "AUTHENTICATION_BACKENDS": [
            "axes.backends.AxesStandaloneBackend",
            "django.contrib.auth.backends.ModelBackend",
        ],
        # The database handler, not the cache one: a lock-out holds across every web process and restarts even
        # without Redis (the local-memory cache counts per process), `axes_reset` works, and admin sign-ins are
        # too rare for one row per failure to cost anything.
        "AXES_HANDLER": "axes.handlers.database.AxesDatabaseHandler",
        # By username and IP together. By username alone anyone could lock a known staff address out from
        # anywhere; by IP alone (or as well: axes has one limit for all) one person behind an office NAT or a
        # shared proxy would lock out all its staff. A wider guesser, one IP trying many usernames, is left to
        # the few staff addresses being hard to guess.
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "AXES_FAILURE_LIMIT": security.admin_login_failure_limit,
        "AXES_COOLOFF_TIME": timedelta(minutes=security.admin_login_cooloff_minutes),
        "AXES_RESET_ON_SUCCESS": True,
        # The one answer to "which client": X-Forwarded-For counts only from SECURITY__TRUSTED_PROXIES.
        "AXES_CLIENT_IP_CALLABLE": "cfg.client_ip.client_ip",
        # The admin form posts `username` (the user model's USERNAME_FIELD is `email`).
        "AXES_USERNAME_FORM_FIELD": "username",
        "AXES_USERNAME_CALLABLE": provided("admin_login_username"),
        "AXES_LOCKOUT_CALLABLE": provided("admin_lockout_response"),
        # Sign-ins and failures go to the accounts activity log; axes keeps only its counts.
        "AXES_DISABLE_ACCESS_LOG": True,
        # Axes' admin pages are plain Django admin and would break Unfold's look; unlock with `axes_reset`.
        "AXES_ENABLE_ADMIN": False,
        # No banner in every start-up's and management command's output.
        "AXES_VERBOSE": False,
    }
