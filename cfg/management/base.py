from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
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
