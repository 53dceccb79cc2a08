"""Which environment are we in? An explicit DJANGO_ENV always wins over detection."""

from __future__ import annotations

import sys
from enum import StrEnum


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_deployed(self) -> bool:
        return self in (Environment.STAGING, Environment.PRODUCTION)


ALIASES = {"dev": "development", "prod": "production", "stage": "staging", "testing": "test"}


def detect_environment(explicit: str | None, argv: list[str] | None = None) -> Environment:
    """DJANGO_ENV if given (validated by the loader), else test under pytest or `manage.py test`,
    else development. Production is never guessed: it must be asked for."""
    if explicit:
        return Environment(ALIASES.get(explicit.strip().lower(), explicit.strip().lower()))
    argv = sys.argv if argv is None else argv
    if "pytest" in sys.modules or (len(argv) > 1 and argv[1] == "test"):
        return Environment.TEST
    return Environment.DEVELOPMENT
