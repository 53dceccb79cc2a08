"""Fixtures for the tasks tests: the local Redis (db 11), unique queues, the worker as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.tasks import task_backends
from django.test import Client
from django.utils.module_loading import autodiscover_modules

from apps.tasks.backends import ReArqBackend
from apps.tasks.keys import WORKER_KEY, delay_key, stream_key

REDIS_URL = os.environ.get("TASKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
TIMINGS = {
    "max_retries": 2,
    "retry_delay": 1,
    "timeout": 20,
    "concurrency": 4,
    "visibility_timeout": 3,
    "heartbeat_interval": 1,
}


def rearq_backend() -> ReArqBackend:
    """The default backend, which the `rearq` fixture made a ReArqBackend."""
    backend = task_backends["default"]
    assert isinstance(backend, ReArqBackend), backend
    return backend


def wait_for(predicate: Callable[[], Any], timeout: float = 90, what: str = "condition") -> Any:
    """Poll until predicate() is truthy. The timeout is generous: other test runs may load the machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def queue_name(redis_client: redis.Redis) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(stream_key(name), delay_key(name))


@pytest.fixture
def rearq(settings: Any, queue_name: str, redis_client: redis.Redis) -> dict[str, Any]:
    """Switch this process's TASKS setting to the ReArq backend on the test Redis and queue.

    Only the test's own queue is configured: workers of other queues on the same Redis (other test
    runs, a developer's worker on "default") must not count in its readiness check or its status.
    """
    # Declaring a task checks its queue against the backend: declare the project's (on "default") while that is valid,
    # rather than at a first request under this backend (middleware is loaded then, and imports some).
    autodiscover_modules("tasks")
    default: dict[str, Any] = {
        "BACKEND": "apps.tasks.backends.ReArqBackend",
        "QUEUES": [queue_name],
        "OPTIONS": {"redis_url": REDIS_URL, **TIMINGS},
    }
    settings.TASKS = {"default": default}
    return default


def signed_in(client: Client, **flags: bool) -> Client:
    user = get_user_model().objects.create_user(
        email=f"{uuid.uuid4().hex[:8]}@example.com", password="pw-123456789", **flags
    )
    client.force_login(user)
    return client


@pytest.fixture
def admin_user_client(client: Client) -> Client:
    return signed_in(client, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client) -> Client:
    return signed_in(client, is_staff=True)


@pytest.fixture
def member_client(client: Client) -> Client:
    return signed_in(client)


def database_url() -> str:
    """The test database, addressed through the embedded server's socket, for the worker subprocess."""
    params = connection.get_connection_params()
    name = connection.settings_dict["NAME"]
    return f"postgres://{params.get('user') or 'postgres'}@/{name}?host={params['host']}"


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def registered(self, redis_url: str = REDIS_URL) -> bool:
        """The worker is alive and its heartbeat is in the worker registry."""
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.output()}")
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
        try:
            entries = client.hvals(WORKER_KEY)
        except redis.ConnectionError:
            return False
        finally:
            client.close()
        return any(json.loads(entry).get("pid") == self.pid for entry in entries)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=90)


@pytest.fixture
def start_worker(
    rearq: dict[str, Any], queue_name: str, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*arguments: str, env: dict[str, str] | None = None, redis_url: str = REDIS_URL) -> WorkerProcess:
        environment = {
            **os.environ,
            "DJANGO_ENV": "test",
            "DATABASE_URL": database_url(),
            "TASKS__BACKEND": "rearq",
            "TASKS__REDIS_URL": redis_url,
            # "default" too: importing a module declares its tasks, and each must name a configured queue.
            "TASKS__QUEUES": f"default,{queue_name}",
            **{f"TASKS__{key.upper()}": str(value) for key, value in TIMINGS.items()},
            **(env or {}),
        }
        log = tmp_path / f"worker-{len(started)}.log"
        command = [sys.executable, "manage.py", "rearq_worker", "--queue", queue_name, *arguments]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=django_settings.BASE_DIR, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(process, log)
        started.append(worker)
        wait_for(lambda: worker.registered(redis_url), timeout=60, what="the worker's first heartbeat")
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=10)
    for name, entry in redis_client.hgetall(WORKER_KEY).items():
        if json.loads(entry).get("pid") in {worker.pid for worker in started}:
            redis_client.hdel(WORKER_KEY, name)


@pytest.fixture
def scratch_key(redis_client: redis.Redis) -> Iterator[str]:
    key = f"tasks-test:{uuid.uuid4().hex}"
    yield key
    for name in redis_client.keys(f"{key}*"):
        redis_client.delete(name)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, so the test can stop it (and start it again on its port)."""
    import shutil
    import socket

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = start_redis_server(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0", process
    if process.poll() is None:
        process.kill()
        process.wait()


def start_redis_server(port: int, directory: Path | None = None) -> subprocess.Popen[bytes]:
    """An empty, non-persistent redis-server on 127.0.0.1:port, once it answers.

    It saves nothing, so its --dir (by default the run's temporary directory) only keeps it from writing in
    the working directory.
    """
    directory = directory or Path(tempfile.gettempdir())
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    wait_for(lambda: _pings(client), timeout=30, what="the private Redis server")
    client.close()
    return process


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
