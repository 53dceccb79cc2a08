from __future__ import annotations

from typing import Any

from cfg.models.core import DjangoConfig


def cache_settings(config: DjangoConfig) -> dict[str, Any]:
    backend = config.cache.backend
    if backend == "auto":
        backend = "redis" if config.redis_url else "locmem"
    common = {"TIMEOUT": config.cache.default_timeout, "KEY_PREFIX": config.cache.key_prefix or config.project_slug}
    if backend == "redis":
        default = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": config.redis_url,
            # A cache outage must not take the site down: misses instead of errors.
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
            **common,
        }
    elif backend == "dummy":
        default = {"BACKEND": "django.core.cache.backends.dummy.DummyCache", **common}
    else:
        default = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": config.project_slug,
            **common,
        }
    return {"CACHES": {"default": default}, "REDIS_URL": config.redis_url}
