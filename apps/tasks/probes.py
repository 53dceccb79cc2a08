"""Tasks that check the queue itself: `ping.enqueue()` from a shell proves a worker runs tasks."""

from __future__ import annotations

import socket

from django.tasks import task


@task
def ping() -> dict[str, str]:
    return {"pong": socket.gethostname()}


@task
def noop() -> None:
    """Does nothing: benchmarks measure the queue's own cost with it."""
