"""Writes TaskRun rows. Every final state goes through a guarded UPDATE, so it is recorded once.

The guard is (status=RUNNING, attempts=n): an attempt can only finish the run it started, and a
late finisher (a worker presumed dead, a timed-out thread) never overwrites a newer outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models import JSONField
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from apps.tasks.exceptions import WorkerLost
from apps.tasks.models import TaskRun

WORKER_LOST = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


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


# ON CONFLICT DO NOTHING: a fast worker may have created the row from the message already. Outside a transaction,
# the row's commit does not wait for the disk (synchronous_commit off for this statement only): should PostgreSQL
# crash in the next few hundred milliseconds and lose it, the worker recreates it from the message, which carries
# everything the row holds (claim_attempts). Inside the caller's transaction it commits with theirs, as usual.
# The columns are written out (the others are NULL) rather than built by the ORM: this is every enqueue's cost.
ENQUEUED_SQL = """
INSERT INTO {table} (
    id, task_path, args, kwargs, queue, backend, priority, run_after, enqueued_at,
    status, attempts, worker, worker_ids, errors, error_class, traceback
)
SELECT %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, 'READY', 0, '', '[]', '[]', '', ''
{durability}
ON CONFLICT (id) DO NOTHING
"""
ASYNC_COMMIT = "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS durability"


def record_enqueued(result: TaskResult[Any, Any]) -> None:
    """Record a queued run in one round trip."""
    task = result.task
    connection = connections[_database()]
    durability = "" if connection.in_atomic_block else ASYNC_COMMIT
    values: list[Any] = [
        result.id,
        task.module_path,
        json.dumps(list(result.args)),
        json.dumps(dict(result.kwargs)),
        task.queue_name,
        result.backend,
        task.priority,
        task.run_after,
        result.enqueued_at or timezone.now(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(ENQUEUED_SQL.format(table=TaskRun._meta.db_table, durability=durability), values)


@cache
def _columns(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{field.get_attname_column()[1]}" for field in TaskRun._meta.concrete_fields)


def forget_enqueued(run_id: str) -> None:
    """Undo record_enqueued when the queue refused the run's message (nothing will run it)."""
    TaskRun.objects.filter(pk=run_id, status=TaskResultStatus.READY, attempts=0).delete()


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


# One statement starts the attempts of a batch. The CTE locks the rows in id order (workers claiming and finishing
# overlapping batches never deadlock); a row is updated only once the CTE has emitted (locked) it. A run found
# RUNNING lost its worker: that attempt is recorded as lost. A run out of attempts is recorded FAILED instead.
CLAIMS_SQL = """
WITH locked AS (
    SELECT id FROM {table} WHERE id = ANY(%(ids)s::varchar[]) ORDER BY id FOR UPDATE
)
UPDATE {table} AS run SET
    status = CASE WHEN run.attempts >= %(max)s THEN 'FAILED' ELSE 'RUNNING' END,
    attempts = CASE WHEN run.attempts >= %(max)s THEN run.attempts ELSE run.attempts + 1 END,
    started_at = CASE WHEN run.attempts >= %(max)s THEN run.started_at ELSE COALESCE(run.started_at, %(now)s) END,
    last_attempted_at = CASE WHEN run.attempts >= %(max)s THEN run.last_attempted_at ELSE %(now)s END,
    finished_at = CASE WHEN run.attempts >= %(max)s THEN %(now)s END,
    worker = CASE WHEN run.attempts >= %(max)s THEN run.worker ELSE %(worker)s END,
    worker_ids = CASE
        WHEN run.attempts >= %(max)s THEN run.worker_ids
        ELSE run.worker_ids || jsonb_build_array(%(worker)s::text)
    END,
    errors = CASE
        WHEN run.status = 'RUNNING' THEN run.errors || jsonb_build_array(
            jsonb_build_object('exception_class_path', %(lost)s::text, 'traceback', {note})
        )
        ELSE run.errors
    END,
    error_class = CASE WHEN run.status = 'RUNNING' THEN %(lost)s ELSE run.error_class END,
    traceback = CASE WHEN run.status = 'RUNNING' THEN {note} ELSE run.traceback END
WHERE run.id IN (SELECT id FROM locked) AND run.status IN ('READY', 'RUNNING')
RETURNING {columns}
"""
LOST_NOTE = (
    "('worker ' || run.worker || ' stopped responding during attempt ' || run.attempts "
    "|| '; delivered again' || E'\\n')"
)


def claim_attempts(payloads: list[dict[str, Any]], worker_id: str, max_attempts: int) -> dict[str, TaskRun | None]:
    """Start a new attempt of each run the messages name; None where there is nothing to run.

    Nothing to run: the run already reached a final state (a duplicate delivery), or it has used all its
    attempts (it is then recorded FAILED). A run found RUNNING means its previous worker died: that attempt
    is recorded as lost and this delivery becomes the next attempt. One statement in the usual case; if the
    database fails, the messages stay pending and are delivered again.
    """
    by_id = {payload["id"]: payload for payload in payloads}
    claimed: dict[str, TaskRun | None] = dict.fromkeys(by_id)
    with connections[_database()].cursor() as cursor:
        claimed.update(_claim(cursor, list(by_id), worker_id, max_attempts))
        rest = [run_id for run_id, run in claimed.items() if run is None]
        if rest:
            # Not started: finished, out of attempts, or no row (yet: enqueued inside a transaction that has not
            # committed, or its enqueue has not written the row by now). The message is the truth: create what is
            # missing, then claim again; finished runs stay as they are.
            TaskRun.objects.bulk_create([run_from_payload(by_id[run_id]) for run_id in rest], ignore_conflicts=True)
            claimed.update(_claim(cursor, rest, worker_id, max_attempts))
    return claimed


def _claim(cursor: Any, ids: list[str], worker_id: str, max_attempts: int) -> dict[str, TaskRun | None]:
    table = TaskRun._meta.db_table
    fields = TaskRun._meta.concrete_fields
    sql = CLAIMS_SQL.format(table=table, note=LOST_NOTE, columns=_columns("run."))
    cursor.execute(
        sql,
        {
            "ids": sorted(ids),
            "max": max_attempts,
            "now": timezone.now(),
            "worker": worker_id,
            "lost": WORKER_LOST,
        },
    )
    claimed: dict[str, TaskRun | None] = {}
    for row in cursor.fetchall():
        values = [
            json.loads(value) if value is not None and isinstance(field, JSONField) else value
            for field, value in zip(fields, row, strict=True)
        ]
        run = TaskRun.from_db(cursor.db.alias, [field.attname for field in fields], values)
        claimed[run.pk] = run if run.status == TaskResultStatus.RUNNING else None
    return claimed


@dataclass
class Finish:
    """The outcome of one attempt: SUCCESSFUL, FAILED, or READY (a retry is scheduled)."""

    run: TaskRun
    status: str
    return_value: Any = None
    error: TaskError | None = None
    at: datetime = field(default_factory=timezone.now)


# The CTE locks the rows in id order, and a row is updated only once the CTE has emitted (locked) it.
FINISHES_SQL = """
WITH locked AS (
    SELECT id FROM {table} WHERE id = ANY(%s::varchar[]) ORDER BY id FOR UPDATE
)
UPDATE {table} AS run SET
    status = outcome.status,
    duration = outcome.at - run.last_attempted_at,
    finished_at = CASE WHEN outcome.status = 'READY' THEN run.finished_at ELSE outcome.at END,
    return_value = CASE WHEN outcome.status = 'SUCCESSFUL' THEN outcome.return_value::jsonb ELSE run.return_value END,
    errors = CASE
        WHEN outcome.error IS NULL THEN run.errors ELSE run.errors || jsonb_build_array(outcome.error::jsonb)
    END,
    error_class = COALESCE(outcome.error_class, run.error_class),
    traceback = COALESCE(outcome.traceback, run.traceback)
FROM unnest(
    %s::varchar[], %s::integer[], %s::varchar[], %s::timestamptz[], %s::text[], %s::text[], %s::varchar[], %s::text[]
) AS outcome(id, attempts, status, at, return_value, error, error_class, traceback)
WHERE run.id = outcome.id AND run.id IN (SELECT id FROM locked)
    AND run.status = 'RUNNING' AND run.attempts = outcome.attempts
RETURNING run.id
"""


def finish_attempts(finishes: list[Finish]) -> set[str]:
    """Record the outcomes of a batch of attempts in one statement; return the ids recorded.

    An outcome is recorded only if its run is still RUNNING the same attempt: a late finisher (a worker
    presumed dead, a timed-out thread) never overwrites a newer outcome. The rows are locked in id order
    first, so workers finishing overlapping batches never deadlock. The runs of recorded outcomes are
    updated in memory too.
    """
    if not finishes:
        return set()
    finishes = sorted(finishes, key=lambda finish: finish.run.pk)
    errors = [finish.error for finish in finishes]
    columns = (
        [finish.run.pk for finish in finishes],
        [finish.run.pk for finish in finishes],
        [finish.run.attempts for finish in finishes],
        [finish.status for finish in finishes],
        [finish.at for finish in finishes],
        [
            json.dumps(finish.return_value) if finish.status == TaskResultStatus.SUCCESSFUL else None
            for finish in finishes
        ],
        [json.dumps(_error_entry(error)) if error else None for error in errors],
        [error.exception_class_path if error else None for error in errors],
        [error.traceback if error else None for error in errors],
    )
    with connections[_database()].cursor() as cursor:
        cursor.execute(FINISHES_SQL.format(table=TaskRun._meta.db_table), columns)
        recorded = {row[0] for row in cursor.fetchall()}
    for finish in finishes:
        if finish.run.pk in recorded:
            _apply(finish)
    return recorded


def _apply(finish: Finish) -> None:
    run = finish.run
    run.status = finish.status
    run.duration = finish.at - run.last_attempted_at if run.last_attempted_at else None
    if finish.status != TaskResultStatus.READY:
        run.finished_at = finish.at
    if finish.status == TaskResultStatus.SUCCESSFUL:
        run.return_value = finish.return_value
    if finish.error is not None:
        run.errors = [*run.errors, _error_entry(finish.error)]
        run.error_class, run.traceback = finish.error.exception_class_path, finish.error.traceback


def _error_entry(error: TaskError) -> dict[str, str]:
    return {"exception_class_path": error.exception_class_path, "traceback": error.traceback}


def _database() -> str:
    return router.db_for_write(TaskRun)


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
