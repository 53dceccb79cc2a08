"""The worker outlives a Redis outage: it keeps running and takes work again once Redis is back."""

from __future__ import annotations

from typing import Any

import pytest
from django.tasks import TaskResultStatus

from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs
from apps.tasks.tests.conftest import TIMINGS, start_redis_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def succeeded(run_id: str) -> bool:
    return TaskRun.objects.filter(pk=run_id, status=TaskResultStatus.SUCCESSFUL).exists()


def test_the_worker_recovers_when_redis_comes_back(start_worker, settings, private_redis, queue_name):
    url, server = private_redis
    options: dict[str, Any] = {"redis_url": url, **TIMINGS}
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": [queue_name], "OPTIONS": options}
    }
    worker = start_worker(redis_url=url)
    before = jobs.add.using(queue_name=queue_name).enqueue(1, 2)
    wait_for(lambda: succeeded(before.id), what="the task before the outage")

    server.terminate()
    server.wait(timeout=30)
    wait_for(lambda: "failed" in worker.output(), what="the worker to notice the outage")
    assert worker.process.poll() is None, worker.output()

    # Redis returns empty (no persistence): its streams, groups and worker registry are gone.
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    restarted = start_redis_server(port)
    try:
        wait_for(lambda: worker.registered(url), what="the worker's heartbeat after the outage")
        after = jobs.add.using(queue_name=queue_name).enqueue(3, 4)
        wait_for(lambda: succeeded(after.id), what="a task enqueued after the outage")
    finally:
        restarted.kill()
        restarted.wait()
    assert TaskRun.objects.get(pk=after.id).return_value == 7
    assert worker.process.poll() is None
