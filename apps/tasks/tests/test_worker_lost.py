"""Real workers: the drain timeout on SIGTERM, and the timer's sweep of runs Redis lost."""

from __future__ import annotations

import signal
from typing import Any

import pytest
import redis
from django.tasks import TaskResultStatus

from apps.tasks.keys import GROUP, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.recorder import WORKER_LOST
from apps.tasks.sweep import TASK_LOST
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import TIMINGS, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def status(run_id: str) -> str:
    return TaskRun.objects.get(pk=run_id).status


def test_sigterm_waits_only_the_drain_timeout_and_leaves_running_tasks_to_be_delivered_again(
    start_worker, queue_name, redis_client, scratch_key
):
    worker = start_worker(env={"TASKS__DRAIN_TIMEOUT": "1"})
    sync_run = jobs.slow_first_attempt.using(queue_name=queue_name).enqueue(scratch_key, 600)
    async_run = jobs.slow_async.using(queue_name=queue_name).enqueue(scratch_key, 600)
    wait_for(lambda: redis_client.get(f"{scratch_key}:started") == b"1", what="the sync task to start")
    wait_for(lambda: redis_client.get(f"{scratch_key}:async-started") == b"1", what="the async task to start")

    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=90) == 0, worker.output()  # far sooner than the 20 s task timeout
    output = worker.output()
    assert "drain timeout (1 s): leaving 2 running task(s) unacknowledged" in output
    assert sync_run.id in output and "apps.tasks.tests.jobs.slow_first_attempt" in output
    assert async_run.id in output and "apps.tasks.tests.jobs.slow_async" in output
    assert status(sync_run.id) == status(async_run.id) == TaskResultStatus.RUNNING
    assert redis_client.xpending(stream_key(queue_name), GROUP)["pending"] == 2  # still held, not acknowledged
    assert redis_client.get(f"{scratch_key}:finished") is None

    start_worker()  # takes the abandoned sync task after the visibility timeout and finishes it
    wait_for(lambda: status(sync_run.id) == TaskResultStatus.SUCCESSFUL, what="the next worker to finish it")
    run = TaskRun.objects.get(pk=sync_run.id)
    assert run.attempts == 2 and run.return_value == 2
    assert [error["exception_class_path"] for error in run.errors] == [WORKER_LOST]
    assert redis_client.get(f"{scratch_key}:finished") == b"1"


def test_timers_fail_runs_redis_lost_exactly_once_and_spare_running_ones(
    start_worker, settings, private_redis, queue_name, scratch_key
):
    url, _server = private_redis
    options: dict[str, Any] = {"redis_url": url, **TIMINGS}
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": [queue_name], "OPTIONS": options}
    }
    client = redis.Redis.from_url(url)
    doomed = start_worker(redis_url=url)
    running = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 600)
    wait_for(lambda: client.get(f"{scratch_key}:started") == b"1", what="the task to start")
    doomed.process.kill()  # its worker dies mid-task ...
    doomed.process.wait(timeout=10)
    waiting = jobs.add.using(queue_name=queue_name).enqueue(1, 2)
    client.flushdb()  # ... and Redis loses everything (no persistence, a failover): nothing will deliver these

    sweep = {"TASKS__LOST_AFTER": "3", "TASKS__SWEEP_INTERVAL": "1"}
    timers = [start_worker("--with-timer", env=sweep, redis_url=url) for _ in range(2)]
    # A task that runs for longer than lost_after, with a live lease: it must be left alone.
    long = jobs.slow.using(queue_name=queue_name).enqueue(f"{scratch_key}:long", 8)

    wait_for(lambda: status(running.id) == status(waiting.id) == TaskResultStatus.FAILED, what="the sweep")
    wait_for(lambda: status(long.id) == TaskResultStatus.SUCCESSFUL, what="the long task to finish")

    for run_id in (running.id, waiting.id):
        run = TaskRun.objects.get(pk=run_id)
        assert run.error_class == TASK_LOST
        assert run.traceback.startswith("lost: the queue no longer holds this task")
        assert [error["exception_class_path"] for error in run.errors] == [TASK_LOST]  # once, not per timer
    assert TaskRun.objects.get(pk=long.id).return_value == "done"
    assert all(timer.terminate() == 0 for timer in timers)
    lines = "".join(timer.output() for timer in timers).splitlines()
    marks = [line for line in lines if "lost run(s) FAILED" in line and running.id in line]
    assert len(marks) == 1, "one timer, once, logs each lost run"
    client.close()
