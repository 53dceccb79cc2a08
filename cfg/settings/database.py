from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cfg.models.core import CoreConfig
from cfg.models.database import DatabasePoolConfig

EMBEDDED_ENGINE = "cfg.db.embedded_backend"
POSTGRES_ENGINE = "django.db.backends.postgresql"


def parse_database_url(url: str, *, conn_max_age: int, health_checks: bool = True) -> dict[str, Any]:
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    # postgres://user@/name?host=/path/to/socket-dir addresses a unix socket.
    host = unquote(parts.hostname or "") or options.pop("host", "")
    return {
        "ENGINE": POSTGRES_ENGINE,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": health_checks,
        "OPTIONS": options,
    }


def embedded_database(config: CoreConfig) -> dict[str, Any]:
    """The embedded server listens on a unix socket only; the backend starts it on first connect."""
    return {
        "ENGINE": EMBEDDED_ENGINE,
        "NAME": config.project_slug,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "CONN_MAX_AGE": config.db_conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"pgdata": str(config.data_path / "postgres")},
        "TEST": {"NAME": f"test_{config.project_slug}"},
    }


def with_pool(settings: dict[str, Any], pool: DatabasePoolConfig) -> dict[str, Any]:
    """Django hands a connection back to the pool when a request ends; it refuses a pool with CONN_MAX_AGE."""
    if pool.enabled:
        settings["OPTIONS"]["pool"] = pool.options()
        settings["CONN_MAX_AGE"] = 0
    return settings


def database_settings(config: CoreConfig) -> dict[str, Any]:
    default = (
        parse_database_url(config.database_url, conn_max_age=config.db_conn_max_age)
        if config.database_url
        else embedded_database(config)
    )
    databases = {"default": with_pool(default, config.db_pool)}
    app_routes: dict[str, str] = {}
    for alias, database in config.databases.items():
        settings = parse_database_url(
            database.url, conn_max_age=database.conn_max_age, health_checks=database.conn_health_checks
        )
        settings["OPTIONS"].update(database.options)
        databases[alias] = with_pool(settings, database.pool)
        app_routes.update(dict.fromkeys(database.apps, alias))
    return {
        "DATABASES": databases,
        "DATABASE_ROUTERS": ["cfg.db.router.AppDatabaseRouter"] if app_routes else [],
        "DATABASE_APPS_MAPPING": app_routes,
    }
