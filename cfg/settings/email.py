from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig
from cfg.models.email import EMAIL_BACKENDS


def email_settings(config: CoreConfig) -> dict[str, Any]:
    """Django 6.1's MAILERS (the EMAIL_HOST family is deprecated)."""
    email = config.email
    options: dict[str, Any] = {}
    if email.backend == "smtp":
        options = {
            "host": email.host,
            "port": email.port,
            "username": email.username,
            "password": email.password.get_secret_value(),
            "use_tls": email.use_tls,
            "use_ssl": email.use_ssl,
            "timeout": email.timeout,
        }
    elif email.backend == "file":
        options = {"file_path": str(config.base_dir / email.file_path)}
    return {
        "MAILERS": {"default": {"BACKEND": EMAIL_BACKENDS[email.backend], "OPTIONS": options}},
        "DEFAULT_FROM_EMAIL": email.default_from,
        "SERVER_EMAIL": email.default_from,
    }
