"""Real workers and a queue emptied under them: task_clear, and a stream deleted by hand (DEL)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone

from apps.tasks.keys import GROUP, delay_key, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.services import PURGED
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def status(run_id: str) -> str:
    return TaskRun.objects.get(pk=run_id).status


def group_names(client: redis.Redis, stream: str) -> list[bytes]:
    try:
        return [group["name"] for group in client.xinfo_groups(stream)]
    except redis.ResponseError:  # no such key (yet)
        return []


def blocked_reader(client: redis.Redis) -> bool:
    """A client of the test database is blocked in XREADGROUP (the idle worker waiting for work)."""
    database = client.connection_pool.connection_kwargs.get("db", 0)
    return any(
        entry.get("cmd") == "xreadgroup" and "b" in entry.get("flags", "") and int(entry.get("db", -1)) == database
        for entry in client.client_list()
    )


def test_task_clear_leaves_the_running_task_to_finish_and_fails_exactly_what_it_removed(
    start_worker, queue_name, redis_client, scratch_key, monkeypatch
):
    worker = start_worker("--concurrency", "1")  # busy with one task, so the next one waits in the stream
    running = jobs.slow.using(queue_name=queue_name).enqueue(scratch_key, 5)
    wait_for(lambda: redis_client.get(f"{scratch_key}:started") == b"1", what="the slow task to start")
    waiting = jobs.add.using(queue_name=queue_name).enqueue(1, 1)
    delayed = jobs.add.using(queue_name=queue_name, run_after=timezone.now() + timedelta(seconds=60)).enqueue(2, 2)
    prompts: list[str] = []

    def answer_yes(prompt: str) -> str:
        prompts.append(prompt)
        return "y"

    monkeypatch.setattr("builtins.input", answer_yes)
    out = StringIO()

    call_command("task_clear", queue=queue_name, stdout=out)

    assert f"purge 2 waiting task(s) from queue {queue_name!r} (1 queued, 1 delayed; 1 running" in prompts[0]
    assert f"Purged 2 task(s) from queue {queue_name!r}; 2 run(s) marked FAILED." in out.getvalue()
    for run_id in (waiting.id, delayed.id):
        run = TaskRun.objects.get(pk=run_id)
        assert run.status == TaskResultStatus.FAILED and run.error_class == PURGED
    assert TaskRun.objects.filter(error_class=PURGED, queue=queue_name).count() == 2
    stream = stream_key(queue_name)
    assert [group["name"] for group in redis_client.xinfo_groups(stream)] == [GROUP.encode()]
    assert redis_client.xlen(stream) == 1 and redis_client.zcard(delay_key(queue_name)) == 0  # the running one

    wait_for(lambda: status(running.id) == TaskResultStatus.SUCCESSFUL, what="the running task to be recorded")
    assert TaskRun.objects.get(pk=running.id).return_value == "done"
    assert redis_client.get(f"{scratch_key}:finished") == b"1"
    wait_for(lambda: redis_client.xlen(stream) == 0, what="its message to be acknowledged and deleted")
    assert worker.registered()
    later = jobs.add.using(queue_name=queue_name).enqueue(3, 4)
    wait_for(lambda: status(later.id) == TaskResultStatus.SUCCESSFUL, what="the worker to take new work")
    assert worker.terminate() == 0, worker.output()
    assert "UNBLOCKED" not in worker.output()


def test_a_worker_whose_stream_is_deleted_while_it_waits_keeps_running(start_worker, queue_name, redis_client):
    worker = start_worker()
    wait_for(lambda: blocked_reader(redis_client), what="the worker to block reading its stream")

    redis_client.delete(stream_key(queue_name))  # an operator's DEL (or FLUSHDB) under the blocked read

    # registered() fails at once, with the worker's output, if the worker exited instead of recreating its group.
    wait_for(lambda: worker.registered() and "was deleted under the worker" in worker.output(), what="the log line")
    # The worker logs first, then recreates the group: wait for it rather than read it at once.
    wait_for(lambda: group_names(redis_client, stream_key(queue_name)) == [GROUP.encode()], what="the group")
    result = jobs.add.using(queue_name=queue_name).enqueue(2, 3)
    wait_for(lambda: status(result.id) == TaskResultStatus.SUCCESSFUL, what="the worker to run a new task")
    assert TaskRun.objects.get(pk=result.id).return_value == 5
    assert worker.terminate() == 0, worker.output()
