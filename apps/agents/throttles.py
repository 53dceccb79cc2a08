"""Messages to agents throttled per signed-in user (rates in AGENTS["THROTTLE_RATES"]; None: no limit).

Each message starts a run: model requests and tool calls, with a paid provider billed. The throttle counts in the
throttle cache (cfg.settings.cache.THROTTLE_CACHE), which does not hide Redis errors, and fails closed: a throttle
that cannot count would let every message through."""

from __future__ import annotations

from rest_framework import status

from apps.agents.exceptions import AgentsError
from modules.api.throttles import SettingsRateThrottle


class ThrottleUnavailable(AgentsError):
    """The throttle store (Redis) cannot count: the message is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = (
        "Agents are briefly unavailable: the store that limits messages (Redis) cannot be reached. Try again shortly."
    )


class AgentsThrottle(SettingsRateThrottle):
    """Per signed-in user (every agents endpoint requires one; permissions run before throttles), else per client
    address."""

    rates_setting = "AGENTS"
    unavailable = ThrottleUnavailable


class MessageThrottle(AgentsThrottle):
    scope = "agents_message"
