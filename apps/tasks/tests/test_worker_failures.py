"""The worker records a final state for tasks that cannot finish normally: timed out, or gone."""

from __future__ import annotations

import uuid

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from apps.tasks.keys import GROUP, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import rearq_backend, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def final(run_id: str) -> TaskRun | None:
    return TaskRun.objects.filter(pk=run_id, status__in=["SUCCESSFUL", "FAILED"]).first()


def test_a_task_longer_than_the_timeout_fails_as_timed_out(start_worker, queue_name, scratch_key):
    start_worker(env={"TASKS__TIMEOUT": "1", "TASKS__MAX_RETRIES": "0"})
    result = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 5)

    run = wait_for(lambda: final(result.id), what="the slow task to time out")

    assert run.status == TaskResultStatus.FAILED and run.attempts == 1
    assert run.error_class == "apps.tasks.exceptions.TaskTimedOut"
    assert "ran longer than the 1 s timeout" in run.traceback


def test_a_task_whose_path_no_longer_exists_fails_once_and_leaves_the_queue(start_worker, queue_name, redis_client):
    start_worker()
    run_id = uuid.uuid4().hex
    payload = {
        "id": run_id,
        "task": "apps.tasks.tests.jobs.renamed_away",
        "args": [],
        "kwargs": {},
        "queue": queue_name,
        "enqueued_at": timezone.now().isoformat(),
    }
    rearq_backend().queue.push(queue_name, payload)  # as an older release of the code enqueued it

    run = wait_for(lambda: final(run_id), what="the run of the missing task")

    assert run.status == TaskResultStatus.FAILED and run.attempts == 1
    assert run.error_class == "builtins.ImportError"
    assert "renamed_away" in run.traceback
    wait_for(lambda: redis_client.xlen(stream_key(queue_name)) == 0, what="the message to be deleted")
    assert redis_client.xpending(stream_key(queue_name), GROUP)["pending"] == 0


def test_a_worker_whose_threads_are_stuck_past_the_timeout_exits_to_be_restarted(
    start_worker, queue_name, redis_client, scratch_key
):
    worker = start_worker("--concurrency", "1", env={"TASKS__TIMEOUT": "1", "TASKS__MAX_RETRIES": "0"})
    result = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 600)  # a call that never returns in time

    wait_for(lambda: worker.process.poll() is not None, what="the worker to exit")

    assert worker.process.returncode == 1
    assert "ran past the 1 s timeout and never returned" in worker.output()
    assert redis_client.get(f"{scratch_key}:finished") is None  # it did not wait for the stuck call
    run = TaskRun.objects.get(pk=result.id)
    assert run.status == TaskResultStatus.FAILED and run.error_class == "apps.tasks.exceptions.TaskTimedOut"
