"""The lost-run sweep against the local Redis: it fails runs whose message is gone, and nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command
from django.tasks import TaskResult, TaskResultStatus
from django.utils import timezone

from apps.tasks.keys import GROUP, WORKER_KEY, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.sweep import TASK_LOST, runs_find_lost, runs_mark_lost, runs_sweep_lost
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import rearq_backend
from apps.tasks.tests.factories import make_run

pytestmark = pytest.mark.django_db

LOST_AFTER = 60
LONG_AGO = timedelta(hours=1)


def drop_message(client: redis.Redis, queue: str, run_id: str) -> None:
    """Delete one run's message from the stream, as FLUSHDB or task_clear would."""
    for message_id, fields in client.xrange(stream_key(queue)):
        if json.loads(fields[b"job"])["id"] == run_id:
            client.xdel(stream_key(queue), message_id)
            return
    raise AssertionError(f"no message for {run_id}")


def age(*ids: str) -> None:
    then = timezone.now() - LONG_AGO
    TaskRun.objects.filter(pk__in=ids).update(enqueued_at=then, last_attempted_at=then)


def statuses(*runs: TaskRun | TaskResult[Any, Any]) -> list[str]:
    return [TaskRun.objects.get(pk=run.id).status for run in runs]


@pytest.fixture
def live_worker(redis_client: redis.Redis) -> Iterator[str]:
    name = f"live-{time.time_ns()}"
    redis_client.hset(WORKER_KEY, name, json.dumps({"ms": int(time.time() * 1000), "pid": 0}))
    yield name
    redis_client.hdel(WORKER_KEY, name)


def test_the_sweep_fails_only_quiet_runs_whose_message_is_gone(rearq, queue_name, redis_client, live_worker):
    backend = rearq_backend()
    waiting = jobs.add.using(queue_name=queue_name).enqueue(1, 1)
    deferred = jobs.add.using(queue_name=queue_name, run_after=timezone.now() + timedelta(hours=2)).enqueue(1, 2)
    gone = jobs.add.using(queue_name=queue_name).enqueue(1, 3)
    gone_recently = jobs.add.using(queue_name=queue_name).enqueue(1, 4)
    drop_message(redis_client, queue_name, gone.id)
    drop_message(redis_client, queue_name, gone_recently.id)
    age(waiting.id, deferred.id, gone.id)
    # Taken by a worker (pending in the group) that died: its message is still there, to be reclaimed.
    held = jobs.add.using(queue_name=queue_name).enqueue(1, 5)
    redis_client.xgroup_create(stream_key(queue_name), GROUP, id="0")
    redis_client.xreadgroup(GROUP, "dead-worker", {stream_key(queue_name): ">"})
    TaskRun.objects.filter(pk=held.id).update(status="RUNNING", attempts=1, worker="dead-worker")
    age(held.id)
    quiet = timezone.now() - LONG_AGO
    running_dead = make_run(status="RUNNING", queue=queue_name, worker="dead-worker", last_attempted_at=quiet)
    # A live worker records its attempt within the timeout even without the message; past that, it is lost too.
    running_live = make_run(
        status="RUNNING",
        queue=queue_name,
        worker=live_worker,
        last_attempted_at=timezone.now() - timedelta(seconds=LOST_AFTER + 5),
    )
    running_live_too_long = make_run(status="RUNNING", queue=queue_name, worker=live_worker, last_attempted_at=quiet)
    # Failed an attempt long ago that ran long, and was scheduled for retry just now (no message: it is young).
    retrying = make_run(
        status="READY", queue=queue_name, attempts=1, last_attempted_at=quiet, duration=LONG_AGO - timedelta(seconds=5)
    )
    finished = make_run(status="SUCCESSFUL", queue=queue_name, last_attempted_at=quiet)

    marked = runs_sweep_lost(backend, lost_after=LOST_AFTER)

    assert {run.id for run in marked} == {gone.id, running_dead.id, running_live_too_long.id}
    assert statuses(gone, running_dead, running_live_too_long) == ["FAILED"] * 3
    untouched: list[TaskRun | TaskResult[Any, Any]]
    untouched = [waiting, deferred, gone_recently, held, running_live, retrying, finished]
    assert statuses(*untouched) == ["READY", "READY", "READY", "RUNNING", "RUNNING", "READY", "SUCCESSFUL"]
    run = TaskRun.objects.get(pk=running_dead.pk)
    assert run.error_class == TASK_LOST == "apps.tasks.exceptions.TaskLost"
    assert run.traceback.startswith("lost: the queue no longer holds this task\n")
    assert "started (attempt 1)" in run.traceback and run.finished_at is not None
    assert [error["exception_class_path"] for error in run.errors] == [TASK_LOST]
    assert "last queued" in TaskRun.objects.get(pk=gone.id).traceback
    assert jobs.add.get_result(gone.id).status == TaskResultStatus.FAILED


def test_a_lost_run_is_marked_once_and_only_as_the_sweep_saw_it(rearq, queue_name, redis_client):
    backend = rearq_backend()
    lost = [jobs.add.using(queue_name=queue_name).enqueue(2, n) for n in range(2)]
    for result in lost:
        drop_message(redis_client, queue_name, result.id)
    age(*(result.id for result in lost))
    found = runs_find_lost(backend, lost_after=LOST_AFTER)
    assert {run.id for run in found} == {result.id for result in lost}
    # Between finding and marking, a worker started the second one (it must not be failed under it).
    TaskRun.objects.filter(pk=lost[1].id).update(status="RUNNING", attempts=1)

    first = runs_mark_lost(found, backend=backend)
    second = runs_mark_lost(found, backend=backend)  # another timer with the same view

    assert [run.id for run in first] == [lost[0].id] and second == []
    run = TaskRun.objects.get(pk=lost[0].id)
    assert [error["exception_class_path"] for error in run.errors] == [TASK_LOST]
    assert TaskRun.objects.get(pk=lost[1].id).status == "RUNNING"


def test_task_sweep_lists_with_dry_run_then_marks(rearq, queue_name, redis_client):
    result = jobs.add.using(queue_name=queue_name).enqueue(3, 3)
    drop_message(redis_client, queue_name, result.id)
    age(result.id)

    out = StringIO()
    call_command("task_sweep", dry_run=True, lost_after=LOST_AFTER, stdout=out)
    assert "Lost (not marked, --dry-run): 1" in out.getvalue() and result.id in out.getvalue()
    assert TaskRun.objects.get(pk=result.id).status == "READY"

    out = StringIO()
    call_command("task_sweep", lost_after=LOST_AFTER, stdout=out)
    assert "Marked FAILED as lost: 1" in out.getvalue() and result.id in out.getvalue()
    assert TaskRun.objects.get(pk=result.id).error_class == TASK_LOST


def test_task_sweep_refuses_the_immediate_backend_and_bad_input(rearq):
    with pytest.raises(CommandError, match="--lost-after must be 0 or more"):
        call_command("task_sweep", lost_after=-1)


def test_task_sweep_needs_a_queue():
    with pytest.raises(CommandError, match="immediate backend keeps no queue"):
        call_command("task_sweep")


def test_task_sweep_says_when_redis_is_unreachable(settings, private_redis):
    url, server = private_redis
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": ["default"], "OPTIONS": {"redis_url": url}}
    }
    make_run(status="READY", enqueued_at=timezone.now() - LONG_AGO)
    server.terminate()
    server.wait(timeout=10)
    with pytest.raises(CommandError, match="is unreachable"):
        call_command("task_sweep", lost_after=LOST_AFTER)
