"""The ReArq backend end to end: the local Redis, the worker as a real subprocess, the test database."""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.tasks import TaskResultStatus
from django.utils import timezone

from apps.tasks.exceptions import TaskQueueUnavailable
from apps.tasks.keys import GROUP, cron_slot_key, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.recorder import WORKER_LOST
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import TIMINGS, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def finished(*ids: str) -> bool:
    return TaskRun.objects.filter(pk__in=ids, status__in=["SUCCESSFUL", "FAILED"]).count() == len(ids)


def test_enqueued_tasks_run_to_successful_with_their_return_values(start_worker, queue_name):
    start_worker()
    added = jobs.add.using(queue_name=queue_name).enqueue(2, 3)
    multiplied = async_to_sync(jobs.multiply.using(queue_name=queue_name).aenqueue)(4, 5)
    orm = jobs.count_running.using(queue_name=queue_name).enqueue()
    context = jobs.which_attempt.using(queue_name=queue_name).enqueue()
    status_when_enqueued = added.status  # (a local: refresh() below changes added.status)
    assert status_when_enqueued == TaskResultStatus.READY

    wait_for(lambda: finished(added.id, multiplied.id, orm.id, context.id), what="the four tasks")

    added.refresh()
    assert added.status == TaskResultStatus.SUCCESSFUL
    assert added.return_value == 5
    # django-stubs types the result of an async task as its coroutine; Django gives the awaited value.
    assert jobs.multiply.get_result(multiplied.id).return_value == 20  # type: ignore[comparison-overlap]
    assert jobs.count_running.get_result(orm.id).return_value >= 1  # its own run is RUNNING while it counts
    assert jobs.which_attempt.get_result(context.id).return_value == 1
    run = TaskRun.objects.get(pk=added.id)
    assert (run.task_path, run.queue, run.args, run.attempts) == ("apps.tasks.tests.jobs.add", queue_name, [2, 3], 1)
    assert run.worker and run.worker_ids == [run.worker]
    assert run.started_at is not None and run.finished_at is not None
    assert run.enqueued_at <= run.started_at <= run.finished_at
    assert run.duration is not None and run.error_class == ""


def test_a_failing_task_is_retried_then_failed_with_its_traceback(start_worker, queue_name):
    start_worker()
    result = jobs.fail.using(queue_name=queue_name).enqueue("boom")

    wait_for(lambda: finished(result.id), what="the failing task to give up")

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == TIMINGS["max_retries"] + 1
    assert len(result.errors) == TIMINGS["max_retries"] + 1
    run = TaskRun.objects.get(pk=result.id)
    assert run.error_class == "builtins.ValueError"
    assert run.traceback.startswith("Traceback (most recent call last)")
    assert "ValueError: boom" in run.traceback
    assert all(error["exception_class_path"] == "builtins.ValueError" for error in run.errors)


def test_run_after_is_honoured(start_worker, queue_name, redis_client):
    start_worker()
    run_after = timezone.now() + timedelta(seconds=2)
    deferred = jobs.add.using(queue_name=queue_name, run_after=run_after).enqueue(1, 1)
    now = jobs.add.using(queue_name=queue_name).enqueue(2, 2)

    wait_for(lambda: finished(now.id, deferred.id), what="both tasks")

    run = TaskRun.objects.get(pk=deferred.id)
    assert run.status == TaskResultStatus.SUCCESSFUL and run.return_value == 2
    assert run.run_after == run_after
    assert run.started_at is not None
    assert run.started_at >= run_after  # the worker was free earlier: it ran `now` at once
    now_started_at = TaskRun.objects.get(pk=now.id).started_at
    assert now_started_at is not None and now_started_at < run_after


def test_kill_9_mid_task_another_worker_completes_it_exactly_once(start_worker, queue_name, redis_client, scratch_key):
    first = start_worker()
    result = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 2)
    wait_for(lambda: redis_client.get(f"{scratch_key}:started") == b"1", what="the slow task to start")

    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    assert TaskRun.objects.get(pk=result.id).status == TaskResultStatus.RUNNING
    second = start_worker()

    wait_for(lambda: finished(result.id), what="the second worker to finish the task")

    run = TaskRun.objects.get(pk=result.id)
    assert run.status == TaskResultStatus.SUCCESSFUL and run.return_value == "done"
    assert run.attempts == 2
    assert len(set(run.worker_ids)) == 2 and str(second.pid) in run.worker
    assert [error["exception_class_path"] for error in run.errors] == [WORKER_LOST]
    assert TaskRun.objects.filter(task_path="apps.tasks.tests.jobs.slow").count() == 1
    # Delivered twice (at least once), finished once; the message is gone from the queue.
    assert redis_client.get(f"{scratch_key}:started") == b"2"
    assert redis_client.get(f"{scratch_key}:finished") == b"1"
    wait_for(lambda: redis_client.xlen(stream_key(queue_name)) == 0, what="the message to be deleted")
    assert redis_client.xpending(stream_key(queue_name), GROUP)["pending"] == 0


def test_a_run_delivered_twice_in_one_batch_runs_once_and_both_messages_are_acknowledged(
    start_worker, queue_name, redis_client, scratch_key
):
    tasks = [jobs.tick.using(queue_name=queue_name).enqueue(f"{scratch_key}:{number}") for number in range(3)]
    duplicated = tasks[1]
    stream = stream_key(queue_name)
    _, body = redis_client.xrange(stream)[1]
    assert json.loads(body[b"job"])["id"] == duplicated.id
    redis_client.xadd(stream, body)  # the same run once more: the worker reads all four (concurrency 4) at once

    start_worker()

    wait_for(lambda: finished(*[task.id for task in tasks]), what="the three runs")
    # The second message is left pending, delivered again after the visibility timeout, and acknowledged unrun.
    wait_for(lambda: redis_client.xlen(stream) == 0, what="both messages to be acknowledged and deleted")
    assert [redis_client.get(f"{scratch_key}:{number}") for number in range(3)] == [b"1"] * 3
    run = TaskRun.objects.get(pk=duplicated.id)
    assert (run.status, run.attempts, run.errors) == (TaskResultStatus.SUCCESSFUL, 1, [])


def test_sigterm_drains_running_tasks_and_takes_nothing_new(start_worker, queue_name, redis_client, scratch_key):
    worker = start_worker()
    running = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 1.5)
    wait_for(lambda: redis_client.get(f"{scratch_key}:started") == b"1", what="the slow task to start")

    worker.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "stop requested" in worker.output(), what="the worker to acknowledge SIGTERM")
    waiting = jobs.add.using(queue_name=queue_name).enqueue(1, 2)

    assert worker.process.wait(timeout=90) == 0, worker.output()
    run = TaskRun.objects.get(pk=running.id)
    assert run.status == TaskResultStatus.SUCCESSFUL and run.return_value == "done"
    assert TaskRun.objects.get(pk=waiting.id).status == TaskResultStatus.READY
    entries = redis_client.xrange(stream_key(queue_name))
    assert [json.loads(fields[b"job"])["id"] for _, fields in entries] == [waiting.id]

    start_worker()  # the task left behind runs on the next worker
    wait_for(lambda: finished(waiting.id), what="the next worker to run the waiting task")
    assert TaskRun.objects.get(pk=waiting.id).return_value == 3


def test_periodic_tasks_run_on_the_timer_and_are_recorded(start_worker, queue_name, redis_client, scratch_key):
    prefix = f"TASKS__PERIODIC__TICK{queue_name.removeprefix('t-').upper()}"  # slot keys are per schedule name
    start_worker(
        "--with-timer",
        env={
            f"{prefix}__TASK": "apps.tasks.tests.jobs.tick",
            f"{prefix}__CRON": "* * * * * * *",  # every second (seconds field first)
            f"{prefix}__QUEUE": queue_name,
            f"{prefix}__ARGS": json.dumps([scratch_key]),
        },
    )
    ticks = TaskRun.objects.filter(task_path="apps.tasks.tests.jobs.tick", status=TaskResultStatus.SUCCESSFUL)

    wait_for(lambda: ticks.count() >= 2, what="two periodic runs")

    assert int(redis_client.get(scratch_key)) >= 2
    assert all(run.queue == queue_name and run.args == [scratch_key] for run in ticks)


def test_the_worker_heartbeat_is_a_readiness_check(start_worker, settings, client):
    from apps.tasks.health import check_worker_heartbeat

    settings.HEALTH_CHECKS = {"worker": "apps.tasks.health.check_worker_heartbeat"}
    with pytest.raises(RuntimeError, match="no task worker"):
        check_worker_heartbeat()
    worker = start_worker()

    body = client.get("/readyz").json()
    assert body["checks"]["worker"]["status"] == "ok", body

    assert worker.terminate() == 0
    body = client.get("/readyz").json()
    assert body["checks"]["worker"]["status"] == "error"
    assert "rearq_worker" in body["checks"]["worker"]["detail"]


def test_unreachable_redis_raises_one_clear_error_and_records_nothing(settings, private_redis, admin_client):
    url, server = private_redis
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": [], "OPTIONS": {"redis_url": url}}
    }
    queued = jobs.add.enqueue(1, 2)
    assert TaskRun.objects.filter(pk=queued.id).exists()
    TaskRun.objects.filter(pk=queued.id).update(status=TaskResultStatus.FAILED, finished_at=timezone.now())

    server.terminate()
    server.wait(timeout=10)

    with pytest.raises(TaskQueueUnavailable, match=r"unreachable, so the task could not be queued"):
        jobs.add.enqueue(3, 4)
    assert TaskRun.objects.count() == 1
    response = admin_client.post(f"/api/tasks/runs/{queued.id}/retry/")
    assert response.status_code == 503
    assert "is unreachable" in response.json()["detail"]
    assert TaskRun.objects.count() == 1


def test_two_timers_enqueue_each_periodic_slot_once(start_worker, queue_name, redis_client, scratch_key):
    name = f"tick{queue_name.removeprefix('t-')}"  # its own schedule name: slot keys are per name
    prefix = f"TASKS__PERIODIC__{name.upper()}"
    schedule = {
        f"{prefix}__TASK": "apps.tasks.tests.jobs.tick",
        f"{prefix}__CRON": "* * * * * * *",
        f"{prefix}__QUEUE": queue_name,
        f"{prefix}__ARGS": json.dumps([scratch_key]),
    }
    timers = [start_worker("--with-timer", env=schedule), start_worker("--with-timer", env=schedule)]
    ticks = TaskRun.objects.filter(task_path="apps.tasks.tests.jobs.tick", args=[scratch_key])

    wait_for(lambda: ticks.count() >= 4, what="four periodic runs")
    assert all(timer.terminate() == 0 for timer in timers)

    slots = redis_client.keys(cron_slot_key(name, 0).removesuffix("0") + "*")
    assert 4 <= ticks.count() <= len(slots)  # two timers, yet one run per cron slot
