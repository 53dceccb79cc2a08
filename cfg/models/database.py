from __future__ import annotations

from pydantic import Field

from cfg.models.base import CommaList, ConfigModel, PostgresUrl


class DatabaseConfig(ConfigModel):
    """One database alias. Apps listed in `apps` are routed to it by AppDatabaseRouter."""

    url: PostgresUrl = Field(description="postgres://user:password@host:5432/name")
    conn_max_age: int = Field(default=60, ge=0, description="Seconds to keep a connection open (0 closes each request)")
    conn_health_checks: bool = True
    apps: CommaList = Field(default=(), description="App labels whose models live in this database")
    options: dict[str, str] = Field(default_factory=dict, description="Extra psycopg connection options")
