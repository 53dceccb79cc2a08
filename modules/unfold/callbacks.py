from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.templatetags.static import static

from modules.live_settings.values import cached_setting

BADGE_COLOURS = {"development": "info", "test": "warning", "staging": "warning", "production": "danger"}


def environment_badge(request: HttpRequest) -> list[str]:
    """Unfold's ENVIRONMENT callback: the badge in the admin header. Staff pass maintenance mode, so the badge is
    what tells them every visitor is getting the maintenance page."""
    environment: str = settings.ENVIRONMENT
    if cached_setting("MAINTENANCE_MODE"):
        return [f"{environment.capitalize()} · maintenance on", "danger"]
    return [environment.capitalize(), BADGE_COLOURS.get(environment, "info")]


def admin_styles(request: HttpRequest) -> str:
    """Unfold's STYLES entry: the project's few amendments to Unfold's stylesheet."""
    return static("unfold_module/admin.css")
