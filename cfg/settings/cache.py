from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig

# The sign-in throttles count here. Unlike the default cache it does not hide Redis errors: a throttle that cannot
# count would let everything through, so apps.accounts answers 503 instead.
THROTTLE_CACHE = "throttle"


def cache_settings(config: CoreConfig) -> dict[str, Any]:
    backend = config.cache.backend
    if backend == "auto":
        backend = "redis" if config.redis_url else "locmem"
    prefix = config.cache.key_prefix or config.project_slug
    common = {"TIMEOUT": config.cache.default_timeout, "KEY_PREFIX": prefix}
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
    if config.redis_url:
        throttle = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": config.redis_url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
            "KEY_PREFIX": f"{prefix}:throttle",
        }
    else:
        # Without Redis each process counts on its own (documented in docs/deploy.md); never the dummy cache.
        throttle = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"{config.project_slug}-throttle",
            "KEY_PREFIX": f"{prefix}:throttle",
        }
    return {"CACHES": {"default": default, THROTTLE_CACHE: throttle}, "REDIS_URL": config.redis_url}
