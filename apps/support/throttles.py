"""What one customer may send (rates in SUPPORT["THROTTLE_RATES"]; None: no limit): tickets opened, and replies with
their uploads. Counted per signed-in user (every support endpoint requires one; permissions run before throttles).

They count in the throttle cache (cfg.settings.cache.THROTTLE_CACHE), which does not hide Redis errors, and fail
closed: each message may carry files written to disk and emails sent to staff."""

from __future__ import annotations

from rest_framework import status

from apps.support.exceptions import SupportError
from modules.api.throttles import SettingsRateThrottle


class ThrottleUnavailable(SupportError):
    """The throttle store (Redis) cannot count: the message is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = (
        "Support is briefly unavailable: the store that limits messages (Redis) cannot be reached. Nothing was sent; "
        "try again shortly."
    )


class SupportThrottle(SettingsRateThrottle):
    rates_setting = "SUPPORT"
    unavailable = ThrottleUnavailable


class CreateThrottle(SupportThrottle):
    scope = "support_create"


class ReplyThrottle(SupportThrottle):
    scope = "support_reply"
