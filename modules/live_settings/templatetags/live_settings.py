from __future__ import annotations

from typing import Any

from django import template

from modules.live_settings.values import cached_setting

register = template.Library()


@register.simple_tag
def live_setting(name: str) -> Any:
    """{% live_setting "SUPPORT_EMAIL" as support_email %}: the value in force (this process's copy)."""
    return cached_setting(name)
