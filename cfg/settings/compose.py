"""get_all_settings(): one small pure generator per concern, composed in a fixed order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cfg.exceptions import SettingsCollisionError
from cfg.models.core import CoreConfig
from cfg.settings.api import api_settings
from cfg.settings.apps import app_settings, apps_settings
from cfg.settings.cache import cache_settings
from cfg.settings.constance import constance_settings
from cfg.settings.core import core_settings
from cfg.settings.database import database_settings
from cfg.settings.email import email_settings
from cfg.settings.integrations import integrations_settings
from cfg.settings.llm import llm_settings
from cfg.settings.logging import logging_settings
from cfg.settings.security import security_settings
from cfg.settings.tasks import tasks_settings
from cfg.settings.unfold import unfold_settings

Generator = Callable[[CoreConfig], dict[str, Any]]

GENERATORS: tuple[tuple[str, Generator], ...] = (
    ("core", core_settings),
    ("database", database_settings),
    ("cache", cache_settings),
    ("security", security_settings),
    ("email", email_settings),
    ("logging", logging_settings),
    ("api", api_settings),
    ("tasks", tasks_settings),
    ("unfold", unfold_settings),
    ("constance", constance_settings),
    ("apps", apps_settings),
    ("integrations", integrations_settings),
    ("llm", llm_settings),
)


def settings_by_concern(config: CoreConfig) -> list[tuple[str, dict[str, Any]]]:
    produced = [(name, generator(config)) for name, generator in GENERATORS]
    produced.extend(app_settings(config))
    produced.append(("project", config.extra_settings()))
    return produced


def generate_settings(config: CoreConfig) -> dict[str, Any]:
    """Merge every concern's settings; a key produced twice is a bug, never a silent overwrite."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for concern, settings in settings_by_concern(config):
        for key, value in settings.items():
            if key in merged:
                raise SettingsCollisionError(f"setting {key} is produced by both {owner[key]} and {concern}")
            merged[key] = value
            owner[key] = concern
    return merged
