"""Public submissions throttled per client address (LEADS__THROTTLE_SUBMIT; None: no limit).

Per address even for a signed-in visitor: the form is public, and a flood is a flood whoever sends it. It counts in
the throttle cache and fails closed (modules.api.throttles.SettingsRateThrottle)."""

from __future__ import annotations

from apps.leads.exceptions import ThrottleUnavailable
from modules.api.throttles import SettingsRateThrottle


class SubmitThrottle(SettingsRateThrottle):
    scope = "leads_submit"
    rates_setting = "LEADS"
    unavailable = ThrottleUnavailable
    per_address = True
