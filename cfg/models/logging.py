from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from cfg.models.base import ConfigModel


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Level = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]


class LoggingConfig(ConfigModel):
    level: Level = "INFO"
    """Log level of the project and the root logger"""
    format: Literal["auto", "text", "json"] = "auto"  # auto: text in development, JSON when deployed
    """auto (text in development, JSON when deployed) | text | json"""
    sql: bool = False
    """Log every SQL query (development aid)"""
    django_level: Level = "INFO"
    """Log level of Django's own loggers"""
    tasks_level: Level = "WARNING"
    """Log level of django.tasks, which logs a line per task run at INFO (each start and finish) and each
    failure at ERROR"""
