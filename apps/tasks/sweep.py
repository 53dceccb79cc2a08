"""The lost-run sweep: READY or RUNNING runs whose message Redis no longer holds are failed as lost.

Redis may lose messages: FLUSHDB, a restart without persistence, a failover to a replica that lagged,
a queue's stream deleted by hand (DEL), or `task_clear` removing waiting tasks and then failing to record
them (the database went away in between). Nothing would ever deliver such a run again, so it would stay
READY or RUNNING forever. The sweep finds them and records them FAILED (`TaskLost`). It never fails a run
whose message is still in the queue (in the stream, which includes messages taken by a worker, or in the
delay set), nor a run a live worker is still within its time on, and every mark is a guarded UPDATE, so
several sweepers record each lost run once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, When
from django.db.models.functions import Coalesce, Greatest
from django.tasks import TaskResultStatus
from django.tasks.signals import task_finished
from django.utils import timezone

from apps.tasks import recorder
from apps.tasks.backends import ReArqBackend
from apps.tasks.exceptions import TaskLost
from apps.tasks.keys import delay_key, stream_key
from apps.tasks.models import TaskRun

logger = logging.getLogger("apps.tasks.sweep")

TASK_LOST = f"{TaskLost.__module__}.{TaskLost.__qualname__}"
UNFINISHED = (TaskResultStatus.READY, TaskResultStatus.RUNNING)


@dataclass(frozen=True)
class LostRun:
    """A run as the sweep saw it: it is marked only if it is still in this state."""

    id: str
    task_path: str
    queue: str
    status: str
    attempts: int
    quiet_since: datetime


def quiet_since() -> Case:
    """When the run last changed: its attempt's start (RUNNING), else the latest of enqueue and retry scheduling."""
    attempt_end = ExpressionWrapper(F("last_attempted_at") + F("duration"), output_field=DateTimeField())
    return Case(
        When(status=TaskResultStatus.RUNNING, then=Coalesce(F("last_attempted_at"), F("enqueued_at"))),
        default=Greatest(F("enqueued_at"), Coalesce(attempt_end, F("enqueued_at"))),
        output_field=DateTimeField(),
    )


def runs_find_lost(backend: ReArqBackend, *, lost_after: int | None = None) -> list[LostRun]:
    """Unfinished runs quiet for longer than `lost_after` seconds whose message no queue holds any more."""
    lost_after = backend.lost_after if lost_after is None else lost_after
    now = timezone.now()
    candidates = [
        LostRun(**row)
        for row in TaskRun.objects.filter(backend=backend.alias, status__in=UNFINISHED)
        .annotate(quiet_since=quiet_since())
        .filter(quiet_since__lt=now - timedelta(seconds=lost_after))
        .order_by("quiet_since")
        .values("id", "task_path", "queue", "status", "attempts", "quiet_since")
    ]
    if not candidates:
        return []
    live = {worker["name"] for worker in backend.queue.live_workers(backend.heartbeat_interval)}
    workers = dict(
        TaskRun.objects.filter(
            pk__in=[run.id for run in candidates if run.status == TaskResultStatus.RUNNING]
        ).values_list("id", "worker")
    )
    # A live worker records the outcome of its attempt within the timeout, even when its message was deleted.
    own_time = now - timedelta(seconds=backend.timeout + lost_after)
    candidates = [run for run in candidates if not (workers.get(run.id) in live and run.quiet_since > own_time)]
    held: dict[str, set[str]] = {}
    lost = []
    for run in candidates:
        if run.queue not in held:
            held[run.queue] = backend.queue.held_ids(run.queue)
        if run.id not in held[run.queue]:
            lost.append(run)
    return lost


def runs_mark_lost(runs: list[LostRun], *, backend: ReArqBackend) -> list[LostRun]:
    """Record each run FAILED as lost, if it is still as the sweep saw it; return those marked."""
    marked = []
    for seen in runs:
        now = timezone.now()
        was = "queued" if seen.status == TaskResultStatus.READY else f"started (attempt {seen.attempts})"
        note = (
            "lost: the queue no longer holds this task\n"
            f"No message for run {seen.id} in {stream_key(seen.queue)} (waiting or taken by a worker) or "
            f"{delay_key(seen.queue)}, {round((now - seen.quiet_since).total_seconds())} s after it was last {was}; "
            "nothing will deliver it again. Redis lost it (flushed, restarted without persistence, failed over) "
            "or its stream was deleted, or task_clear removed it and could not record that. Retry the run if it "
            "should still happen.\n"
        )
        with transaction.atomic():
            run = (
                TaskRun.objects.select_for_update()
                .filter(pk=seen.id, status=seen.status, attempts=seen.attempts)
                .first()
            )
            if run is None:  # it moved on meanwhile (ran, retried), or another sweeper marked it
                continue
            run.status = TaskResultStatus.FAILED
            run.finished_at = now
            run.errors = [*run.errors, {"exception_class_path": TASK_LOST, "traceback": note}]
            run.error_class, run.traceback = TASK_LOST, note
            run.save(update_fields=["status", "finished_at", "errors", "error_class", "traceback"])
        marked.append(seen)
        try:
            result = recorder.to_task_result(run)
        except (ImportError, AttributeError, TypeError):  # the task's code is gone; the run is recorded anyway
            continue
        task_finished.send(type(backend), task_result=result)
    if marked:
        logger.warning(
            "marked %d lost run(s) FAILED (the queue no longer holds them): %s",
            len(marked),
            ", ".join(f"{run.id} ({run.task_path})" for run in marked),
        )
    return marked


def runs_sweep_lost(backend: ReArqBackend, *, lost_after: int | None = None) -> list[LostRun]:
    return runs_mark_lost(runs_find_lost(backend, lost_after=lost_after), backend=backend)
