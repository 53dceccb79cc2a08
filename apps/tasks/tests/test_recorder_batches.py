"""The worker's bookkeeping in batches: claims and outcomes of many runs at once, by the same rules as one."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.tasks import TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.utils import timezone

from apps.tasks import recorder
from apps.tasks.models import TaskRun
from apps.tasks.recorder import WORKER_LOST, Finish, claim_attempts, finish_attempts
from apps.tasks.tests import jobs
from apps.tasks.tests.factories import make_run as run_factory

pytestmark = pytest.mark.django_db

MAX_ATTEMPTS = 3


def ready_run() -> TaskRun:
    return run_factory(status=TaskResultStatus.READY, started_at=None, last_attempted_at=None)


def payload(run_id: str | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "id": run_id or uuid.uuid4().hex,
        "task": "apps.tasks.tests.jobs.add",
        "args": [1, 2],
        "kwargs": {},
        "queue": "default",
        "backend": "default",
        "priority": 0,
        "enqueued_at": timezone.now().isoformat(),
        "run_after": None,
        **changes,
    }


def test_a_batch_claim_starts_each_ready_run_once_and_says_nothing_runs_for_finished_ones():
    ready = [ready_run() for _ in range(3)]
    done = run_factory(status=TaskResultStatus.SUCCESSFUL, attempts=1)

    claimed = claim_attempts([payload(run.pk) for run in [*ready, done]], "worker-a", MAX_ATTEMPTS)

    assert claimed[done.pk] is None
    for run in ready:
        started = claimed[run.pk]
        assert started is not None
        assert (started.status, started.attempts, started.worker, started.worker_ids) == (
            TaskResultStatus.RUNNING,
            1,
            "worker-a",
            ["worker-a"],
        )
        stored = TaskRun.objects.get(pk=run.pk)
        assert (stored.status, stored.attempts, stored.worker_ids) == (TaskResultStatus.RUNNING, 1, ["worker-a"])
        assert stored.started_at == started.started_at == stored.last_attempted_at
        assert stored.args == started.args  # JSON columns come back as values, not text
    assert TaskRun.objects.get(pk=done.pk).status == TaskResultStatus.SUCCESSFUL


def test_a_run_found_running_is_recorded_as_lost_by_its_worker_and_attempted_again():
    running = run_factory(status=TaskResultStatus.RUNNING, attempts=1, worker="worker-a", worker_ids=["worker-a"])

    started = claim_attempts([payload(running.pk)], "worker-b", MAX_ATTEMPTS)[running.pk]

    assert started is not None
    stored = TaskRun.objects.get(pk=running.pk)
    assert (stored.attempts, stored.worker, stored.worker_ids) == (2, "worker-b", ["worker-a", "worker-b"])
    assert stored.error_class == WORKER_LOST
    assert stored.errors == [
        {
            "exception_class_path": WORKER_LOST,
            "traceback": "worker worker-a stopped responding during attempt 1; delivered again\n",
        }
    ]


def test_a_run_out_of_attempts_is_failed_instead_of_started():
    running = run_factory(status=TaskResultStatus.RUNNING, attempts=MAX_ATTEMPTS, worker="worker-a")

    assert claim_attempts([payload(running.pk)], "worker-b", MAX_ATTEMPTS) == {running.pk: None}

    stored = TaskRun.objects.get(pk=running.pk)
    assert (stored.status, stored.attempts, stored.worker) == (TaskResultStatus.FAILED, MAX_ATTEMPTS, "worker-a")
    assert stored.finished_at is not None and stored.error_class == WORKER_LOST


def test_a_message_whose_row_is_not_there_yet_creates_it_from_the_message():
    message = payload(args=[4, 5], queue="default")

    started = claim_attempts([message, payload(run_factory().pk)], "worker-a", MAX_ATTEMPTS)[message["id"]]

    assert started is not None
    stored = TaskRun.objects.get(pk=message["id"])
    assert (stored.task_path, stored.args, stored.status, stored.attempts) == (
        "apps.tasks.tests.jobs.add",
        [4, 5],
        TaskResultStatus.RUNNING,
        1,
    )


def test_a_row_written_by_its_enqueue_just_after_the_first_look_is_started_not_skipped(monkeypatch):
    message = payload()
    first_look = recorder._claim

    def enqueue_writes_the_row_meanwhile(*args: Any) -> dict[str, TaskRun | None]:
        seen = first_look(*args)
        if not TaskRun.objects.filter(pk=message["id"]).exists():
            recorder.record_enqueued(_result(jobs.add, message["id"], [1, 2]))
        return seen

    monkeypatch.setattr(recorder, "_claim", enqueue_writes_the_row_meanwhile)

    started = claim_attempts([message], "worker-a", MAX_ATTEMPTS)[message["id"]]

    assert started is not None
    assert TaskRun.objects.get(pk=message["id"]).status == TaskResultStatus.RUNNING


def claimed_run(**fields: Any) -> TaskRun:
    run = run_factory(status=TaskResultStatus.READY, **fields)
    started = claim_attempts([payload(run.pk)], "worker-a", MAX_ATTEMPTS)[run.pk]
    assert started is not None
    return started


def test_a_batch_of_outcomes_is_recorded_with_values_errors_and_durations():
    succeeded, failed, retried = claimed_run(), claimed_run(), claimed_run()
    error = TaskError(exception_class_path="builtins.ValueError", traceback="Traceback: boom\n")
    later = timezone.now() + timedelta(seconds=2)

    recorded = finish_attempts(
        [
            Finish(succeeded, TaskResultStatus.SUCCESSFUL, return_value={"sum": 3}, at=later),
            Finish(failed, TaskResultStatus.FAILED, error=error, at=later),
            Finish(retried, TaskResultStatus.READY, error=error, at=later),
        ]
    )

    assert recorded == {succeeded.pk, failed.pk, retried.pk}
    rows = {run.pk: run for run in TaskRun.objects.filter(pk__in=recorded)}
    assert rows[succeeded.pk].status == TaskResultStatus.SUCCESSFUL
    assert rows[succeeded.pk].return_value == {"sum": 3}
    assert rows[succeeded.pk].finished_at == later
    assert succeeded.last_attempted_at is not None
    assert rows[succeeded.pk].duration == later - succeeded.last_attempted_at
    assert (rows[failed.pk].status, rows[failed.pk].error_class) == (TaskResultStatus.FAILED, "builtins.ValueError")
    assert rows[failed.pk].errors == [{"exception_class_path": "builtins.ValueError", "traceback": "Traceback: boom\n"}]
    assert (rows[retried.pk].status, rows[retried.pk].finished_at) == (TaskResultStatus.READY, None)
    assert rows[retried.pk].traceback == "Traceback: boom\n"
    # The runs in memory say the same, for the task_finished signal.
    assert (succeeded.status, succeeded.return_value, succeeded.finished_at) == ("SUCCESSFUL", {"sum": 3}, later)
    assert failed.errors == rows[failed.pk].errors


def test_an_outcome_of_an_attempt_that_is_no_longer_current_is_not_recorded():
    current, taken_over = claimed_run(), claimed_run()
    claim_attempts([payload(taken_over.pk)], "worker-b", MAX_ATTEMPTS)  # worker-a was presumed dead

    recorded = finish_attempts(
        [Finish(current, TaskResultStatus.SUCCESSFUL, return_value=1), Finish(taken_over, TaskResultStatus.SUCCESSFUL)]
    )

    assert recorded == {current.pk}
    stored = TaskRun.objects.get(pk=taken_over.pk)
    assert (stored.status, stored.attempts, stored.worker) == (TaskResultStatus.RUNNING, 2, "worker-b")
    assert taken_over.status == TaskResultStatus.RUNNING  # not changed in memory either


@pytest.mark.django_db(transaction=True)
def test_workers_claiming_and_finishing_overlapping_batches_at_once_never_deadlock():
    runs = [ready_run() for _ in range(40)]
    ids = [run.pk for run in runs]
    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(order: list[str], name: str) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                claimed = claim_attempts([payload(run_id) for run_id in order], name, 100)
                finish_attempts(
                    [Finish(run, TaskResultStatus.READY) for run in claimed.values() if run is not None][::-1]
                )
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(ids, "worker-a")),
        threading.Thread(target=work, args=(ids[::-1], "worker-b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert set(TaskRun.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {10}


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_recorded_whole_on_its_own_and_with_the_callers_transaction():
    alone = _queued(jobs.add, 1, 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        rolled_back = _queued(jobs.add, 3, 4)
        assert TaskRun.objects.filter(pk=rolled_back).exists()
        raise RuntimeError("roll back")

    run = TaskRun.objects.get(pk=alone)
    assert (run.task_path, run.args, run.kwargs, run.status, run.attempts, run.worker_ids, run.errors) == (
        "apps.tasks.tests.jobs.add",
        [1, 2],
        {},
        TaskResultStatus.READY,
        0,
        [],
        [],
    )
    assert run.enqueued_at is not None and run.finished_at is None
    assert not TaskRun.objects.filter(pk=rolled_back).exists()

    recorder.record_enqueued(_result(jobs.add, alone, [5, 6]))  # the worker may have created the row first
    assert TaskRun.objects.get(pk=alone).args == [1, 2]


def _result(task: Any, run_id: str, args: list[Any]) -> TaskResult[Any, Any]:
    return TaskResult(
        task=task,
        id=run_id,
        status=TaskResultStatus.READY,
        enqueued_at=timezone.now(),
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        args=args,
        kwargs={},
        backend="default",
        errors=[],
        worker_ids=[],
    )


def _queued(task: Any, *args: Any) -> str:
    result = _result(task, uuid.uuid4().hex, list(args))
    recorder.record_enqueued(result)
    return result.id
