"""Task functions the tests enqueue; the worker subprocess imports them by path."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from django.conf import settings
from django.tasks import TaskContext, task

from apps.tasks.models import TaskRun


def _redis() -> redis.Redis:
    options = settings.TASKS["default"].get("OPTIONS", {})
    return redis.Redis.from_url(options.get("redis_url") or "redis://127.0.0.1:6379/11")


@task
def add(a: int, b: int) -> int:
    return a + b


@task
async def multiply(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a * b


@task
def count_running() -> int:
    """Uses the ORM: it only works if sync tasks run in a thread, outside the event loop."""
    return TaskRun.objects.filter(status="RUNNING").count()


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
def slow(key: str, seconds: float) -> str:
    client = _redis()
    client.incr(f"{key}:started")
    time.sleep(seconds)
    client.incr(f"{key}:finished")
    return "done"


@task
def tick(key: str) -> None:
    _redis().incr(key)


@task(takes_context=True)
def which_attempt(context: TaskContext[Any, Any]) -> int:
    return context.attempt


@task(takes_context=True)
def slow_first_attempt(context: TaskContext[Any, Any], key: str, seconds: float) -> int:
    """Takes `seconds` on its first attempt only, so a later attempt can finish it."""
    client = _redis()
    client.incr(f"{key}:started")
    if context.attempt == 1:
        time.sleep(seconds)
    client.incr(f"{key}:finished")
    return context.attempt


@task
async def slow_async(key: str, seconds: float) -> str:
    client = _redis()
    client.incr(f"{key}:async-started")
    await asyncio.sleep(seconds)
    client.incr(f"{key}:async-finished")
    return "done"
