"""Enqueueing fails cleanly: one clear exception (a 503 in API views), and no run recorded as queued."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from apps.tasks.exceptions import TaskQueueUnavailable
from apps.tasks.keys import stream_key
from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_redis(settings: Any, private_redis: tuple[str, Any], queue_name: str) -> redis.Redis:
    url, _server = private_redis
    backend = {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": [queue_name], "OPTIONS": {"redis_url": url}}
    settings.TASKS = {"default": backend}
    return redis.Redis.from_url(url)


def test_a_redis_that_refuses_writes_raises_the_clear_error(own_redis, queue_name):
    own_redis.config_set("maxmemory", "1")  # Redis out of memory: it answers "OOM command not allowed"

    with pytest.raises(TaskQueueUnavailable, match=r"refused the command.*: command not allowed when used memory"):
        jobs.add.using(queue_name=queue_name).enqueue(1, 2)

    assert not TaskRun.objects.exists()
    own_redis.config_set("maxmemory", "0")
    assert own_redis.xlen(stream_key(queue_name)) == 0


def test_a_read_only_replica_raises_the_clear_error(own_redis, queue_name, private_redis):
    own_redis.config_set("replica-read-only", "yes")
    own_redis.replicaof("127.0.0.1", "1")  # a failover left the URL pointing at a replica

    with pytest.raises(TaskQueueUnavailable, match=r"refused the command.*: You can.t write against a read only"):
        jobs.add.using(queue_name=queue_name).enqueue(1, 2)

    assert not TaskRun.objects.exists()


def test_arguments_json_cannot_hold_are_refused_before_anything_is_queued(own_redis, queue_name):
    with pytest.raises(TypeError, match=r"apps\.tasks\.tests\.jobs\.add.*JSON.*<class 'object'>"):
        jobs.add.using(queue_name=queue_name).enqueue(object(), 2)  # type: ignore[arg-type]  # the bad input tested

    assert not TaskRun.objects.exists()
    assert own_redis.xlen(stream_key(queue_name)) == 0
