"""Write operations on runs and queues: retry, purge, clean up."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.tasks import TaskResult, TaskResultStatus, task_backends
from django.utils import timezone

from apps.tasks import recorder
from apps.tasks.backends import ReArqBackend
from apps.tasks.exceptions import TaskPurged
from apps.tasks.models import FINAL_STATUSES, TaskRun

PURGED = f"{TaskPurged.__module__}.{TaskPurged.__qualname__}"


class RunNotRetryable(ValueError):
    """The run has not finished, so it cannot be enqueued again."""


def run_retry(run: TaskRun) -> TaskResult:
    """Enqueue the same task with the same arguments again, as a new run linked to this one."""
    if run.status not in FINAL_STATUSES:
        raise RunNotRetryable(f"run {run.pk} is {run.status}; only finished (SUCCESSFUL or FAILED) runs can be retried")
    try:
        task = recorder.task_for(run)
    except (ImportError, AttributeError, TypeError) as error:
        raise RunNotRetryable(f"run {run.pk}: task {run.task_path} cannot be loaded ({error})") from error
    result = task.enqueue(*run.args, **run.kwargs)
    TaskRun.objects.filter(pk=result.id).update(retried_from=run)
    return result


def runs_delete_finished_before(cutoff: datetime) -> int:
    deleted, _ = TaskRun.objects.filter(status__in=FINAL_STATUSES, finished_at__lt=cutoff).delete()
    return deleted


def queue_backend() -> ReArqBackend | None:
    backend = task_backends["default"]
    return backend if isinstance(backend, ReArqBackend) else None


def queue_purge(queue: str) -> int:
    """Drop a queue's waiting and delayed tasks; their runs are recorded FAILED (purged)."""
    backend = queue_backend()
    if backend is None:
        raise RunNotRetryable("the immediate backend keeps no queue; there is nothing to purge")
    payloads = backend.queue.purge(queue)
    ids = [payload["id"] for payload in payloads if "id" in payload]
    note = f"purged from queue {queue} by task_clear before it ran\n"
    with transaction.atomic():
        TaskRun.objects.filter(pk__in=ids, status=TaskResultStatus.READY).update(
            status=TaskResultStatus.FAILED, finished_at=timezone.now(), error_class=PURGED, traceback=note
        )
    return len(ids)
