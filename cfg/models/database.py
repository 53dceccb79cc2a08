from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from cfg.models.base import CommaList, ConfigModel, PostgresUrl


class DatabasePoolConfig(ConfigModel):
    """psycopg's connection pool, per process (Django's OPTIONS["pool"]); max_size 0 leaves it off.

    Under ASGI every request runs its sync code in a thread of its own, so a persistent connection (conn_max_age)
    is one connection per request that never comes back: an ASGI server needs the pool (docker/gunicorn.conf.py
    turns it on). A process whose threads keep their connections between calls (the task worker) needs as many
    pooled connections as threads, or no pool."""

    max_size: int = Field(default=0, ge=0, le=1000, description="Connections per process; 0: no pool")
    min_size: int = Field(default=1, ge=0, le=1000, description="Connections kept open while idle")
    timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds a request waits for a free connection before a 503"
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.max_size and self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size}); lower it")
        return self

    @property
    def enabled(self) -> bool:
        return self.max_size > 0

    def options(self) -> dict[str, Any]:
        """OPTIONS["pool"] for Django: psycopg_pool.ConnectionPool arguments."""
        return {"min_size": self.min_size, "max_size": self.max_size, "timeout": self.timeout}


class DatabaseConfig(ConfigModel):
    """One database alias. Apps listed in `apps` are routed to it by AppDatabaseRouter."""

    url: PostgresUrl = Field(description="postgres://user:password@host:5432/name")
    conn_max_age: int = Field(
        default=60, ge=0, description="Seconds to keep a connection open (0 closes each request; ignored with a pool)"
    )
    conn_health_checks: bool = True
    apps: CommaList = Field(default=(), description="App labels whose models live in this database")
    options: dict[str, str] = Field(default_factory=dict, description="Extra psycopg connection options")
    pool: DatabasePoolConfig = Field(default_factory=DatabasePoolConfig)
