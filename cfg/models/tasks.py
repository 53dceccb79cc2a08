from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from cfg.models.base import CommaList, ConfigModel, RedisUrl

QUEUE_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


def parse_json_text(value: Any) -> Any:
    """Environment variables carry structured values as JSON text."""
    if isinstance(value, str):
        return json.loads(value)
    return value


class PeriodicTaskConfig(ConfigModel):
    """One cron schedule: the worker started with --with-timer enqueues `task` whenever `cron` fires."""

    task: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$", description="Dotted path of a @task function")
    cron: str = Field(description="5 fields (minute hour day month weekday), or 7 with seconds first and year last")
    queue: str | None = Field(default=None, description="Defaults to the task's own queue_name")
    args: Annotated[tuple[Any, ...], BeforeValidator(parse_json_text)] = Field(default_factory=tuple)
    kwargs: Annotated[dict[str, Any], BeforeValidator(parse_json_text)] = Field(default_factory=dict)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from crontab import CronTab

        try:
            CronTab(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a cron expression ({error}); use e.g. '*/5 * * * *'") from None
        return value


class TasksConfig(ConfigModel):
    backend: Literal["immediate", "rearq"] = Field(
        default="immediate", description="immediate runs tasks inline; rearq queues them in Redis for the worker"
    )
    redis_url: RedisUrl = Field(default=None, description="Defaults to REDIS_URL")
    queues: CommaList = Field(default=("default",))
    """Queue names the backend and worker use"""
    max_retries: int = Field(default=3, ge=0, le=100)
    """Retries after a failure before FAILED"""
    retry_delay: int = Field(default=5, ge=0, description="Seconds before the first retry; doubles each attempt")
    timeout: int = Field(default=300, ge=1, description="Seconds a task may run")
    concurrency: int = Field(default=10, ge=1, le=1000, description="Tasks one worker runs at once")
    visibility_timeout: int = Field(
        default=60, ge=2, description="Seconds after which a task held by a silent (dead) worker is delivered again"
    )
    heartbeat_interval: int = Field(
        default=5, ge=1, description="Seconds between worker heartbeats (and lease renewals of running tasks)"
    )
    drain_timeout: int = Field(
        default=25,
        ge=0,
        description="Seconds a worker waits for running tasks after SIGTERM; those still running are delivered again",
    )
    lost_after: int = Field(
        default=600,
        ge=1,
        description="Seconds a READY or RUNNING run may be missing from Redis before the sweep fails it as lost",
    )
    sweep_interval: int = Field(
        default=60, ge=1, description="Seconds between lost-run sweeps of the --with-timer worker"
    )
    periodic: dict[str, PeriodicTaskConfig] = Field(default_factory=dict, description="Cron schedules by name")

    @field_validator("queues")
    @classmethod
    def _queues_not_empty(cls, queues: tuple[str, ...]) -> tuple[str, ...]:
        if not queues:
            raise ValueError("at least one queue is needed, e.g. 'default'")
        for queue in queues:
            if not re.match(QUEUE_NAME_PATTERN, queue):
                raise ValueError(f"queue name {queue!r} may hold only letters, digits, '_', '.' and '-'")
        return queues

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.heartbeat_interval * 2 > self.visibility_timeout:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout} s) must be at least twice heartbeat_interval "
                f"({self.heartbeat_interval} s), or live workers would lose their running tasks"
            )
        if self.lost_after < 3 * self.heartbeat_interval:
            raise ValueError(
                f"lost_after ({self.lost_after} s) must be at least three heartbeat_interval "
                f"({self.heartbeat_interval} s), or the sweep could fail runs of a worker it has not heard from yet"
            )
        for name, schedule in self.periodic.items():
            if schedule.queue is not None and schedule.queue not in self.queues:
                raise ValueError(f"periodic task {name!r} uses queue {schedule.queue!r}, which is not in queues")
        return self
