"""Code requests and verifications throttled per identifier and per client IP (rates in ACCOUNTS)."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from rest_framework.request import Request

from apps.accounts.exceptions import ThrottleUnavailable
from apps.accounts.identifiers import parse_identifier
from cfg.client_ip import client_ip
from modules.api.throttles import SettingsRateThrottle


class AccountsThrottle(SettingsRateThrottle):
    """Counts in the throttle cache and fails closed: when it cannot count, the request is refused with a 503
    (failing open would allow unlimited code requests and guesses while Redis is down)."""

    rates_setting = "ACCOUNTS"
    unavailable = ThrottleUnavailable


class IdentifierThrottle(AccountsThrottle):
    """Per inbox or phone (see Identifier.mailbox), or per exact address with `exact`; with `per_client`, per
    client too (an IPv6 client by its /64, which one subscriber usually holds whole)."""

    per_client = False
    exact = False

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        raw = request.data.get("identifier") if hasattr(request.data, "get") else None
        if not isinstance(raw, str):
            return None  # the serializer answers 400
        try:
            identifier = parse_identifier(raw)
        except ValueError:
            return None
        ident = hashlib.sha256((identifier.value if self.exact else identifier.mailbox).encode()).hexdigest()
        if self.per_client:
            ident = f"{ident}:{client_network(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def client_network(request: Request) -> str:
    """The client's address, an IPv6 one as its /64: a subscriber gets a whole /64, so counting its addresses one by
    one would give it billions of allowances."""
    address = client_ip(request._request)
    if address is None:
        return "unknown"
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # an IPv4 client on a dual-stack socket
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address


class IpThrottle(AccountsThrottle):
    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_network(request)}


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
    """The codes all clients together may have sent to one address: what bounds the messages a botnet can make an
    inbox receive, and the guesses it can make at its codes (this rate times OTP_MAX_ATTEMPTS). Per exact address:
    requests for tagged variants (ada+x@), which reach no account, do not use up the owner's allowance."""

    scope = "otp_identifier_total"
    exact = True
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
