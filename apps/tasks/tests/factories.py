from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.tasks import TaskResultStatus
from django.utils import timezone

from apps.tasks.models import TaskRun


def make_run(**fields: Any) -> TaskRun:
    now = timezone.now()
    status = fields.pop("status", TaskResultStatus.SUCCESSFUL)
    finished = status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
    defaults: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "task_path": "apps.tasks.tests.jobs.add",
        "args": [1, 2],
        "queue": "default",
        "status": status,
        "enqueued_at": now - timedelta(seconds=2),
        "started_at": now - timedelta(seconds=1),
        "last_attempted_at": now - timedelta(seconds=1),
        "finished_at": now if finished else None,
        "attempts": 1 if status != TaskResultStatus.READY else 0,
        "return_value": 3 if status == TaskResultStatus.SUCCESSFUL else None,
    }
    if status == TaskResultStatus.FAILED:
        defaults.update(
            error_class="builtins.ValueError", traceback="Traceback (most recent call last):\nValueError: x"
        )
    defaults.update(fields)
    return TaskRun.objects.create(**defaults)
