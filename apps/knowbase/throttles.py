"""Searches and questions throttled per signed-in user (rates in KNOWBASE["THROTTLE_RATES"]; None: no limit).

They count in the throttle cache (cfg.settings.cache.THROTTLE_CACHE), which does not hide Redis errors, and fail
closed: a question costs a call to the chat model, and a throttle that cannot count would let every one through."""

from __future__ import annotations

from rest_framework import status

from apps.knowbase.exceptions import KnowbaseError
from modules.api.throttles import SettingsRateThrottle


class ThrottleUnavailable(KnowbaseError):
    """The throttle store (Redis) cannot count: the request is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = (
        "Search and questions are briefly unavailable: the store that limits them (Redis) cannot be reached. "
        "Try again shortly."
    )


class KnowbaseThrottle(SettingsRateThrottle):
    """Per signed-in user (every knowbase endpoint requires one; permissions run before throttles), else per client
    address."""

    rates_setting = "KNOWBASE"
    unavailable = ThrottleUnavailable


class SearchThrottle(KnowbaseThrottle):
    scope = "knowbase_search"


class AskThrottle(KnowbaseThrottle):
    scope = "knowbase_ask"


class SubmitThrottle(KnowbaseThrottle):
    """Documents sent per user: each one is stored, read and embedded (with a paid embedder, billed)."""

    scope = "knowbase_submit"
