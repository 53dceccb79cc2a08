"""Messages to agents throttled per signed-in user (rates in AGENTS["THROTTLE_RATES"]; None: no limit).

Each message starts a run: model requests and tool calls, with a paid provider billed. The throttle counts in the
throttle cache (cfg.settings.cache.THROTTLE_CACHE), which does not hide Redis errors, and fails closed: a throttle
that cannot count would let every message through."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from apps.agents.exceptions import AgentsError
from cfg.client_ip import client_ip
from cfg.settings.cache import THROTTLE_CACHE


class ThrottleUnavailable(AgentsError):
    """The throttle store (Redis) cannot count: the message is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = (
        "Agents are briefly unavailable: the store that limits messages (Redis) cannot be reached. Try again shortly."
    )


class AgentsThrottle(SimpleRateThrottle):
    """Per signed-in user (every agents endpoint requires one; permissions run before throttles), else per client
    address."""

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]  # DRF declares a plain attribute: the default cache
        return caches[THROTTLE_CACHE]

    def get_rate(self) -> str | None:
        rate: str | None = settings.AGENTS["THROTTLE_RATES"][self.scope]
        return rate

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        ident = f"user:{request.user.pk}" if request.user.is_authenticated else client_ip(request._request)
        return self.cache_format % {"scope": self.scope, "ident": ident or "unknown"}

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (ConnectionInterrupted, RedisError) as error:
            raise ThrottleUnavailable() from error


class MessageThrottle(AgentsThrottle):
    scope = "agents_message"
