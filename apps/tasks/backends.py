"""The ReArq backend for Django's tasks API: tasks go to Redis streams, `rearq_worker` runs them."""

from __future__ import annotations

import uuid
from typing import Any

from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTaskBackend, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone

from apps.tasks import recorder
from apps.tasks.models import TaskRun
from apps.tasks.queue import RedisQueue

DEFAULTS = {
    "max_retries": 3,
    "retry_delay": 5,
    "timeout": 300,
    "concurrency": 10,
    "visibility_timeout": 60,
    "heartbeat_interval": 5,
    "drain_timeout": 25,
    "lost_after": 600,
    "sweep_interval": 60,
}


class ReArqBackend(BaseTaskBackend):
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = False
    # TaskRun rows are written here and by the worker, not by the django.tasks signal receivers.
    records_runs = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        redis_url = self.options.get("redis_url")
        if not redis_url:
            raise InvalidTaskBackend(f"TASKS[{alias!r}] uses the ReArq backend but OPTIONS has no redis_url")
        self.redis_url: str = redis_url
        settings = {**DEFAULTS, **{key: self.options[key] for key in DEFAULTS if key in self.options}}
        self.max_retries: int = settings["max_retries"]
        self.retry_delay: int = settings["retry_delay"]
        self.timeout: int = settings["timeout"]
        self.concurrency: int = settings["concurrency"]
        self.visibility_timeout: int = settings["visibility_timeout"]
        self.heartbeat_interval: int = settings["heartbeat_interval"]
        self.drain_timeout: int = settings["drain_timeout"]
        self.lost_after: int = settings["lost_after"]
        self.sweep_interval: int = settings["sweep_interval"]
        self.queue = RedisQueue(redis_url)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        self.validate_task(task)
        now = timezone.now()
        try:
            result: TaskResult[Any, Any] = TaskResult(
                task=task,
                id=uuid.uuid4().hex,
                status=TaskResultStatus.READY,
                enqueued_at=now,
                started_at=None,
                last_attempted_at=None,
                finished_at=None,
                args=args,
                kwargs=kwargs,
                backend=self.alias,
                errors=[],
                worker_ids=[],
            )  # normalises args to JSON, raising TypeError for what JSON cannot hold
        except TypeError as error:
            raise TypeError(
                f"the arguments of {task.module_path} must be JSON values (they travel through Redis), "
                f"e.g. pass an id rather than a model instance: {error}"
            ) from error
        payload = {
            "id": result.id,
            "task": task.module_path,
            "args": result.args,
            "kwargs": result.kwargs,
            "queue": task.queue_name,
            "backend": self.alias,
            "priority": task.priority,
            "enqueued_at": now.isoformat(),
            "run_after": task.run_after.isoformat() if task.run_after else None,
        }
        # Redis first: if it is unreachable or refuses the message, TaskQueueUnavailable is raised and nothing stays
        # recorded. A message for now is recorded while Redis answers its append (the two round trips overlap).
        if task.run_after is not None and task.run_after > now:
            self.queue.defer(task.queue_name, payload, task.run_after.timestamp())
            recorder.record_enqueued(result)
        else:
            self.queue.push(
                task.queue_name,
                payload,
                meanwhile=lambda: recorder.record_enqueued(result),
                undo=lambda: recorder.forget_enqueued(result.id),
            )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        run = TaskRun.objects.filter(pk=result_id).first()
        if run is None:
            raise TaskResultDoesNotExist(result_id)
        return recorder.to_task_result(run)
