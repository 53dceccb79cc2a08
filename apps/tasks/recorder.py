"""Writes TaskRun rows. Every final state goes through a guarded UPDATE, so it is recorded once.

The guard is (status=RUNNING, attempts=n): an attempt can only finish the run it started, and a
late finisher (a worker presumed dead, a timed-out thread) never overwrites a newer outcome.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from apps.tasks.exceptions import WorkerLost
from apps.tasks.models import FINAL_STATUSES, TaskRun

WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


def run_from_result(result: TaskResult[Any, Any]) -> TaskRun:
    task = result.task
    return TaskRun(
        id=result.id,
        task_path=task.module_path,
        args=list(result.args),
        kwargs=dict(result.kwargs),
        queue=task.queue_name,
        backend=result.backend,
        priority=task.priority,
        run_after=task.run_after,
        status=TaskResultStatus.READY,
        enqueued_at=result.enqueued_at or timezone.now(),
    )


def run_from_payload(payload: dict[str, Any]) -> TaskRun:
    run_after = payload.get("run_after")
    enqueued_at = parse_datetime(payload["enqueued_at"]) if payload.get("enqueued_at") else None
    return TaskRun(
        id=payload["id"],
        task_path=payload["task"],
        args=payload.get("args", []),
        kwargs=payload.get("kwargs", {}),
        queue=payload["queue"],
        backend=payload.get("backend", "default"),
        priority=payload.get("priority", 0),
        run_after=parse_datetime(run_after) if run_after else None,
        status=TaskResultStatus.READY,
        enqueued_at=enqueued_at or timezone.now(),
    )


def record_enqueued(result: TaskResult[Any, Any]) -> None:
    # ON CONFLICT DO NOTHING: a fast worker may have created the row from the message already.
    TaskRun.objects.bulk_create([run_from_result(result)], ignore_conflicts=True)


def record_started(result: TaskResult[Any, Any]) -> None:
    worker_ids = list(result.worker_ids)
    TaskRun.objects.filter(pk=result.id).update(
        status=TaskResultStatus.RUNNING,
        started_at=result.started_at,
        last_attempted_at=result.last_attempted_at,
        attempts=len(worker_ids),
        worker_ids=worker_ids,
        worker=worker_ids[-1] if worker_ids else "",
    )


def record_finished(result: TaskResult[Any, Any]) -> bool:
    """The outcome of a backend that reports through django.tasks signals (e.g. ImmediateBackend)."""
    errors = [{"exception_class_path": e.exception_class_path, "traceback": e.traceback} for e in result.errors]
    succeeded = result.status == TaskResultStatus.SUCCESSFUL
    last_error = errors[-1] if errors and not succeeded else {}
    finished_at = result.finished_at or timezone.now()
    started = result.last_attempted_at or result.started_at
    updated = TaskRun.objects.filter(pk=result.id, status=TaskResultStatus.RUNNING, attempts=result.attempts).update(
        status=result.status,
        finished_at=finished_at,
        return_value=result.return_value if succeeded else None,
        errors=errors,
        error_class=last_error.get("exception_class_path", ""),
        traceback=last_error.get("traceback", ""),
        duration=finished_at - started if started else None,
    )
    return bool(updated)


def claim_attempt(payload: dict[str, Any], worker_id: str, max_attempts: int) -> TaskRun | None:
    """Start a new attempt of the run a message names; None when there is nothing to run.

    Nothing to run: the run already reached a final state (a duplicate delivery), or it has used all
    its attempts (it is then recorded FAILED). A run found RUNNING means its previous worker died:
    that attempt is recorded as lost and this delivery becomes the next attempt.
    """
    now = timezone.now()
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(pk=payload["id"]).first()
        if run is None:
            # Enqueued inside a transaction that has not committed yet (or rolled back): the message is the truth.
            TaskRun.objects.bulk_create([run_from_payload(payload)], ignore_conflicts=True)
            run = TaskRun.objects.select_for_update().get(pk=payload["id"])
        if run.status in FINAL_STATUSES:
            return None
        if run.status == TaskResultStatus.RUNNING:
            lost = f"worker {run.worker} stopped responding during attempt {run.attempts}; delivered again\n"
            run.errors = [*run.errors, {"exception_class_path": WORKER_LOST, "traceback": lost}]
            run.error_class, run.traceback = WORKER_LOST, lost
        if run.attempts >= max_attempts:
            run.status = TaskResultStatus.FAILED
            run.finished_at = now
            run.save(update_fields=["status", "finished_at", "errors", "error_class", "traceback"])
            return None
        run.status = TaskResultStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now
        run.last_attempted_at = now
        run.finished_at = None
        run.worker = worker_id
        run.worker_ids = [*run.worker_ids, worker_id]
        run.save()
    return run


def finish_attempt(run: TaskRun, status: str, *, return_value: Any = None, error: TaskError | None = None) -> bool:
    """Record the outcome of attempt run.attempts: SUCCESSFUL, FAILED, or READY (a retry is scheduled)."""
    now = timezone.now()
    duration = now - run.last_attempted_at if run.last_attempted_at else None
    changes: dict[str, Any] = {"status": status, "duration": duration}
    if status != TaskResultStatus.READY:
        changes["finished_at"] = now
    if status == TaskResultStatus.SUCCESSFUL:
        changes["return_value"] = return_value
    if error is not None:
        entry = {"exception_class_path": error.exception_class_path, "traceback": error.traceback}
        changes.update(errors=[*run.errors, entry], error_class=error.exception_class_path, traceback=error.traceback)
    updated = TaskRun.objects.filter(pk=run.pk, status=TaskResultStatus.RUNNING, attempts=run.attempts).update(
        **changes
    )
    for name, value in changes.items():
        setattr(run, name, value)
    return bool(updated)


def task_for(run: TaskRun) -> Task[Any, Any]:
    task = import_string(run.task_path)
    if not isinstance(task, Task):
        raise TypeError(f"{run.task_path} is not a task; decorate it with @task")
    return task.using(queue_name=run.queue) if task.queue_name != run.queue else task


def to_task_result(run: TaskRun, task: Task[Any, Any] | None = None) -> TaskResult[Any, Any]:
    result: TaskResult[Any, Any] = TaskResult(
        task=task or task_for(run),
        id=run.id,
        status=TaskResultStatus(run.status),
        enqueued_at=run.enqueued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        last_attempted_at=run.last_attempted_at,
        args=list(run.args),
        kwargs=dict(run.kwargs),
        backend=run.backend,
        errors=[
            TaskError(exception_class_path=e["exception_class_path"], traceback=e["traceback"]) for e in run.errors
        ],
        worker_ids=list(run.worker_ids),
    )
    if run.status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", run.return_value)
    return result
