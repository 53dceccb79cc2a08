from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.templatetags.static import static

BADGE_COLOURS = {"development": "info", "test": "warning", "staging": "warning", "production": "danger"}


def environment_badge(request: HttpRequest) -> list[str]:
    """Unfold's ENVIRONMENT callback: the badge in the admin header."""
    environment: str = settings.ENVIRONMENT
    return [environment.capitalize(), BADGE_COLOURS.get(environment, "info")]


def admin_styles(request: HttpRequest) -> str:
    """Unfold's STYLES entry: the project's few amendments to Unfold's stylesheet."""
    return static("unfold_module/admin.css")
