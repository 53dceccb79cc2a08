"""Smart defaults for each environment: applied above field defaults, below YAML, .env and env vars."""

from __future__ import annotations

from typing import Any

from cfg.environment import Environment

# Fixed keys for local work only. The production guard refuses anything starting "django-insecure".
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"
TEST_SECRET_KEY = "django-insecure-test-only-key-never-use-in-production-0123456789abcdef"

_DEPLOYED: dict[str, Any] = {
    "debug": False,
    "security": {
        "allowed_hosts": [],
        "ssl_redirect": True,
        "hsts_seconds": 31_536_000,
        "hsts_include_subdomains": True,
        "hsts_preload": True,
        "secure_cookies": True,
        "behind_proxy": True,
    },
    "email": {"backend": "smtp"},
    "logging": {"format": "json"},
}

SMART_DEFAULTS: dict[Environment, dict[str, Any]] = {
    Environment.DEVELOPMENT: {
        "debug": True,
        "secret_key": DEVELOPMENT_SECRET_KEY,
        "email": {"backend": "console"},
        "logging": {"format": "text", "level": "INFO"},
    },
    Environment.TEST: {
        "debug": False,
        "secret_key": TEST_SECRET_KEY,
        "email": {"backend": "locmem"},
        "logging": {"format": "text", "level": "WARNING"},
        "security": {"allowed_hosts": ["localhost", "127.0.0.1", "testserver"]},
    },
    Environment.STAGING: _DEPLOYED,
    Environment.PRODUCTION: _DEPLOYED,
}
