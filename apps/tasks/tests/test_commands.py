from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.tasks.keys import GROUP, stream_key
from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs
from apps.tasks.tests.factories import make_run


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_task_status_shows_queues_running_failures_and_workers(rearq, queue_name):
    jobs.add.using(queue_name=queue_name).enqueue(1, 1)
    make_run(status="FAILED")
    make_run(status="RUNNING")

    output = run("task_status")

    assert queue_name in output
    assert "Live workers:" in output
    assert "Running: 1" in output and "Failed in the last 24 hours: 1" in output


@pytest.mark.django_db(transaction=True)
def test_task_clear_purges_a_queue_and_marks_its_runs(rearq, queue_name):
    waiting = jobs.add.using(queue_name=queue_name).enqueue(1, 1)

    output = run("task_clear", queue=queue_name, yes=True)

    assert "Purged 1 task(s)" in output
    run_ = TaskRun.objects.get(pk=waiting.id)
    assert run_.status == "FAILED" and run_.error_class == "apps.tasks.exceptions.TaskPurged"


@pytest.mark.django_db
def test_task_clear_deletes_old_finished_runs_after_asking(monkeypatch):
    old = make_run(finished_at=timezone.now() - timedelta(days=40))
    recent = make_run()
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="aborted"):
        run("task_clear", older_than=30)
    assert TaskRun.objects.filter(pk=old.pk).exists()

    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert "Deleted 1 finished run(s)" in run("task_clear", older_than=30)
    assert list(TaskRun.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.django_db
def test_task_clear_needs_something_to_clear():
    with pytest.raises(CommandError, match="--queue NAME and/or --older-than"):
        run("task_clear")
    with pytest.raises(CommandError, match="immediate backend keeps no queue"):
        run("task_clear", queue="default", yes=True)


@pytest.mark.django_db
def test_task_retry_enqueues_again_and_refuses_unknown_ids():
    failed = make_run(status="FAILED", args=[2, 2])
    output = run("task_retry", failed.pk)
    retried = TaskRun.objects.get(retried_from=failed)
    assert retried.pk in output and retried.return_value == 4
    with pytest.raises(CommandError, match="no run with id"):
        run("task_retry", "missing")


@pytest.mark.django_db
def test_rearq_worker_refuses_the_immediate_backend():
    with pytest.raises(CommandError, match="TASKS__BACKEND=rearq"):
        run("rearq_worker")


@pytest.mark.django_db(transaction=True)
def test_task_clear_keeps_messages_a_worker_has_taken_and_the_consumer_group(rearq, queue_name, redis_client):
    taken = jobs.add.using(queue_name=queue_name).enqueue(1, 1)
    stream = stream_key(queue_name)
    redis_client.xgroup_create(stream, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "a-worker", {stream: ">"}, count=1)  # what a worker does: now pending
    waiting = jobs.add.using(queue_name=queue_name).enqueue(2, 2)

    output = run("task_clear", queue=queue_name, yes=True)

    assert "Purged 1 task(s)" in output and "1 run(s) marked FAILED" in output
    assert TaskRun.objects.get(pk=waiting.id).status == "FAILED"
    assert TaskRun.objects.get(pk=taken.id).status == "READY"
    assert redis_client.xpending(stream, GROUP)["pending"] == 1 and redis_client.xlen(stream) == 1
    assert [group["name"] for group in redis_client.xinfo_groups(stream)] == [GROUP.encode()]
