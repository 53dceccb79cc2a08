from __future__ import annotations

import logging

from django.conf import settings


def get_logger(name: str) -> logging.Logger:
    """A logger under the project's namespace, so that the config's level and format apply."""
    root = settings.PROJECT_SLUG
    return logging.getLogger(name if name == root or name.startswith(f"{root}.") else f"{root}.{name}")
