"""Code requests and verifications throttled per identifier and per client IP (rates in ACCOUNTS)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from apps.accounts.exceptions import ThrottleUnavailable
from apps.accounts.identifiers import parse_identifier
from cfg.client_ip import client_ip
from cfg.settings.cache import THROTTLE_CACHE


class AccountsThrottle(SimpleRateThrottle):
    """Counts in the throttle cache and fails closed: when it cannot count, the request is refused with a 503
    (failing open would allow unlimited code requests and guesses while Redis is down)."""

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]  # DRF declares a plain attribute: the default cache
        return caches[THROTTLE_CACHE]

    def get_rate(self) -> str | None:
        rate: str | None = settings.ACCOUNTS["THROTTLE_RATES"][self.scope]
        return rate

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (ConnectionInterrupted, RedisError) as error:
            raise ThrottleUnavailable() from error


class IdentifierThrottle(AccountsThrottle):
    """Per inbox or phone (see Identifier.mailbox); with `per_client`, per inbox and client IP."""

    per_client = False

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        raw = request.data.get("identifier") if hasattr(request.data, "get") else None
        if not isinstance(raw, str):
            return None  # the serializer answers 400
        try:
            identifier = parse_identifier(raw)
        except ValueError:
            return None
        ident = hashlib.sha256(identifier.mailbox.encode()).hexdigest()
        if self.per_client:
            ident = f"{ident}:{client_ip(request._request) or 'unknown'}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IpThrottle(AccountsThrottle):
    def get_cache_key(self, request: Request, view: Any) -> str | None:
        ip = client_ip(request._request) or "unknown"
        return self.cache_format % {"scope": self.scope, "ident": ip}


class UserThrottle(AccountsThrottle):
    """Per signed-in user; permissions run first, so a signed-out caller gets 401 before reaching this."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


SENT_RECENTLY = "Codes were sent to this address or number a short while ago: use the latest one you received."


class OtpIdentifierThrottle(IdentifierThrottle):
    """The codes one client may have sent to one inbox or phone. Per client: a stranger who fills it (and then
    spends the latest code's guesses) leaves the owner's own allowance untouched, so the owner still gets a fresh
    code. It blocks new sends only; the codes already sent keep working."""

    scope = "otp_identifier"
    per_client = True
    refusal = SENT_RECENTLY


class OtpIdentifierTotalThrottle(IdentifierThrottle):
    """The codes all clients together may have sent to one inbox or phone: what bounds the messages a botnet can
    make an inbox receive, and the guesses it can make at its codes (this rate times OTP_MAX_ATTEMPTS)."""

    scope = "otp_identifier_total"
    refusal = SENT_RECENTLY


class OtpIpThrottle(IpThrottle):
    scope = "otp_ip"


class VerifyIpThrottle(IpThrottle):
    scope = "verify_ip"


class TelegramLinkThrottle(UserThrottle):
    scope = "telegram_link"


class TelegramConfirmThrottle(UserThrottle):
    scope = "telegram_confirm"


class ContactChangeThrottle(UserThrottle):
    scope = "contact_change"


class ContactConfirmThrottle(UserThrottle):
    scope = "contact_confirm"
