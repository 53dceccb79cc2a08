from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

BADGE_COLOURS = {"development": "info", "test": "warning", "staging": "warning", "production": "danger"}


def environment_badge(request: HttpRequest) -> list[str]:
    """Unfold's ENVIRONMENT callback: the badge in the admin header."""
    environment: str = settings.ENVIRONMENT
    return [environment.capitalize(), BADGE_COLOURS.get(environment, "info")]
