"""The public subscribe endpoints (API and page) throttled per client address (NEWSLETTER["THROTTLE_RATES"]).

Counted in the throttle cache and failing closed, as every SettingsRateThrottle: the form mails whoever's address it
is given, and a throttle that cannot count would let a flood of confirmation mails through."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from apps.newsletter.exceptions import ThrottleUnavailable
from modules.api.throttles import SettingsRateThrottle


class SubscribeThrottle(SettingsRateThrottle):
    """Per client address, signed in or not: one person may hold many accounts, not many addresses."""

    scope = "newsletter_subscribe"
    rates_setting = "NEWSLETTER"
    unavailable = ThrottleUnavailable
    per_address = True


def page_subscribe_wait(request: HttpRequest) -> float | None:
    """For the HTML form: None when this request may subscribe (and is counted), else the seconds to wait."""
    throttle = SubscribeThrottle()
    if throttle.allow_request(Request(request), None):
        return None
    return throttle.wait() or 60.0
