"""Public submissions throttled per client address (LEADS__THROTTLE_SUBMIT; None: no limit).

Per address even for a signed-in visitor: the form is public, and a flood is a flood whoever sends it. It counts in
the throttle cache and fails closed (modules.api.throttles.SettingsRateThrottle)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from apps.leads.exceptions import ThrottleUnavailable
from cfg.client_ip import client_ip
from modules.api.throttles import SettingsRateThrottle


class SubmitThrottle(SettingsRateThrottle):
    scope = "leads_submit"
    rates_setting = "LEADS"
    unavailable = ThrottleUnavailable

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request._request) or "unknown"}
