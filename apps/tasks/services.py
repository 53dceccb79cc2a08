"""Write operations on runs and queues: retry, purge, clean up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.tasks import TaskResult, TaskResultStatus, task_backends
from django.utils import timezone

from apps.tasks import recorder
from apps.tasks.backends import ReArqBackend
from apps.tasks.exceptions import RunNotRetryable, TaskPurged
from apps.tasks.models import FINAL_STATUSES, TaskRun

PURGED = f"{TaskPurged.__module__}.{TaskPurged.__qualname__}"
PURGE_BATCH = 1000  # run ids per UPDATE when marking purged runs


def run_retry(run: TaskRun) -> TaskResult[Any, Any]:
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


@dataclass(frozen=True)
class Purged:
    removed: int  # tasks taken off the queue (waiting or delayed)
    failed: int  # their runs marked FAILED; fewer only if some had already finished or were never recorded


def queue_purge(queue: str) -> Purged:
    """Drop a queue's waiting and delayed tasks; their runs are recorded FAILED (purged).

    Tasks a worker is running stay: they finish and are recorded as usual.
    """
    backend = queue_backend()
    if backend is None:
        raise RunNotRetryable("the immediate backend keeps no queue; there is nothing to purge")
    payloads = backend.queue.purge(queue)
    ids = [payload["id"] for payload in payloads]
    note = f"purged from queue {queue} by task_clear before it ran\n"
    failed = 0
    with transaction.atomic():
        for start in range(0, len(ids), PURGE_BATCH):
            batch = ids[start : start + PURGE_BATCH]
            failed += TaskRun.objects.filter(pk__in=batch, status=TaskResultStatus.READY).update(
                status=TaskResultStatus.FAILED, finished_at=timezone.now(), error_class=PURGED, traceback=note
            )
    return Purged(removed=len(ids), failed=failed)
