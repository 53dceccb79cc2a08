"""Readiness check for /readyz (the tasks entry of the app catalog): a worker sent a recent heartbeat."""

from __future__ import annotations

from django.tasks import task_backends

from apps.tasks.backends import ReArqBackend


def check_worker_heartbeat() -> str:
    backend = task_backends["default"]
    if not isinstance(backend, ReArqBackend):
        return "no worker needed: tasks run in the web process (immediate backend)"
    workers = backend.queue.live_workers(backend.heartbeat_interval)
    if backend.queues:  # only workers that serve this site's queues count
        workers = [worker for worker in workers if backend.queues & set(worker.get("queues", []))]
    if not workers:
        raise RuntimeError(
            "no task worker of these queues has sent a heartbeat recently; start `python manage.py rearq_worker`"
        )
    return f"{len(workers)} worker(s) alive"
