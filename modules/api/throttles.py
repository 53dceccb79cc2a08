"""DRF's anonymous and per-user rates, keyed by the project's one client address (cfg.client_ip).

DRF's own key trusts X-Forwarded-For from anyone unless NUM_PROXIES is set, and counts hops rather than checking
who sent them: a client rotating the header would get a fresh allowance per request."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from cfg.client_ip import client_ip


class ClientAnonRateThrottle(AnonRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_ip(request._request) or "unknown"


class ClientUserRateThrottle(UserRateThrottle):
    def get_ident(self, request: Request) -> str:
        return client_ip(request._request) or "unknown"
