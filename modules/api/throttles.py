"""The project's throttles.

DRF's anonymous and per-user rates, keyed by the project's one client address (cfg.client_ip). DRF's own key trusts
X-Forwarded-For from anyone unless NUM_PROXIES is set, and counts hops rather than checking who sent them: a client
rotating the header would get a fresh allowance per request.

SettingsRateThrottle, the base of the apps' own throttles: scoped rates from an app's settings, counted in the
throttle cache (cfg.settings.cache.THROTTLE_CACHE), which does not hide Redis errors, failing closed."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import BaseCache, caches
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from cfg.client_ip import client_ip
from cfg.settings.cache import THROTTLE_CACHE
from modules.api.exceptions import ServiceError


class ClientAnonRateThrottle(AnonRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_ip(request._request) or "unknown"


class ClientUserRateThrottle(UserRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_ip(request._request) or "unknown"


class SettingsRateThrottle(SimpleRateThrottle):
    """The rate of `scope` in settings.<rates_setting>["THROTTLE_RATES"] (None: no limit), counted per signed-in user,
    else per client address; per client address always with `per_address` (public forms: one person may hold many
    accounts, not many addresses).

    It counts in the throttle cache and fails closed: when the cache cannot count (Redis down), the request is refused
    with `unavailable` rather than let through uncounted."""

    rates_setting: ClassVar[str]
    """The name of the settings dict that holds THROTTLE_RATES (KNOWBASE, AGENTS, ACCOUNTS)"""
    unavailable: ClassVar[type[ServiceError]]
    """Raised (with its own message) when the cache cannot count"""
    per_address: ClassVar[bool] = False
    """Count per client address even for a signed-in user"""

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]  # DRF declares a plain attribute: the default cache
        return caches[THROTTLE_CACHE]

    def get_rate(self) -> str | None:
        rate: str | None = getattr(settings, self.rates_setting)["THROTTLE_RATES"][self.scope]
        return rate

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        signed_in = request.user.is_authenticated and not self.per_address
        ident = f"user:{request.user.pk}" if signed_in else client_ip(request._request)
        return self.cache_format % {"scope": self.scope, "ident": ident or "unknown"}

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (ConnectionInterrupted, RedisError) as error:
            raise self.unavailable() from error
