from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.module_loading import import_string

from cfg.config import DjangoConfig


def config_class() -> type[DjangoConfig]:
    cls: type[DjangoConfig] = import_string(settings.CFG_CONFIG_CLASS)
    return cls


def load_fresh(environ: dict[str, str] | None = None) -> DjangoConfig:
    """Build the project's config again from its sources (raises ConfigurationError)."""
    base_dir: Path = settings.BASE_DIR
    return config_class().load(base_dir, environ=environ)


def plain(value: Any) -> Any:
    """Settings values as JSON-friendly data."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return str(value)


class ProjectCommand(BaseCommand):
    """The base of the project's commands that use the database: one that cannot be reached (stopped, refused,
    a bad DATABASE_URL) or refuses the command ends it with one line and exit 1, not a traceback."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except DatabaseError as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandError(f"the database refused the command: {first}") from error
