from __future__ import annotations

from typing import Any

from cfg.catalog import provided
from cfg.models.core import CoreConfig

IMMEDIATE_BACKEND = "django.tasks.backends.immediate.ImmediateBackend"


def tasks_settings(config: CoreConfig) -> dict[str, Any]:
    tasks = config.tasks
    # The enabled apps' own schedules, then the configured ones, which replace an app's schedule of the same name.
    schedules = {name: schedule for spec in config.enabled_app_specs() for name, schedule in spec.periodic.items()}
    schedules.update(tasks.periodic)
    periodic = {name: schedule.model_dump(mode="json") for name, schedule in schedules.items()}
    settings: dict[str, Any] = {}
    if tasks.backend == "rearq":
        default: dict[str, Any] = {
            "BACKEND": provided("task_backend"),
            "QUEUES": list(tasks.queues),
            "OPTIONS": {
                "redis_url": config.tasks_redis_url,
                "max_retries": tasks.max_retries,
                "retry_delay": tasks.retry_delay,
                "timeout": tasks.timeout,
                "concurrency": tasks.concurrency,
                "visibility_timeout": tasks.visibility_timeout,
                "heartbeat_interval": tasks.heartbeat_interval,
                "drain_timeout": tasks.drain_timeout,
                "lost_after": tasks.lost_after,
                "sweep_interval": tasks.sweep_interval,
            },
        }
    else:
        default = {"BACKEND": IMMEDIATE_BACKEND, "QUEUES": list(tasks.queues)}
    settings["TASKS"] = {"default": default}
    settings["TASKS_PERIODIC"] = periodic
    return settings
