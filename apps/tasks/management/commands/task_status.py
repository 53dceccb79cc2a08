from __future__ import annotations

from datetime import timedelta
from typing import IO, Any, cast

from django.core.management.base import CommandError
from django.tasks import TaskResultStatus
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from apps.tasks import selectors, services
from apps.tasks.exceptions import TaskQueueUnavailable
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = "Queue depth, running tasks, failures in the last 24 hours and live workers."

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        counts = selectors.status_counts()
        failed = selectors.failed_since(timezone.now() - timedelta(hours=24))
        backend = services.queue_backend()
        if backend is None:
            console.print("Backend: immediate (tasks run inline; there is no queue and no worker)")
        else:
            try:
                depths = {queue: backend.queue.depth(queue) for queue in sorted(backend.queues)}
                workers = backend.queue.live_workers(backend.heartbeat_interval)
            except TaskQueueUnavailable as error:
                raise CommandError(error.message) from error
            queues = Table("queue", "waiting", "taken", "delayed", title="Queues")
            for queue, depth in depths.items():
                queues.add_row(queue, str(depth["waiting"]), str(depth["running"]), str(depth["delayed"]))
            console.print(queues)
            table = Table("worker", "queues", "running", "succeeded", "failed", title=f"Live workers: {len(workers)}")
            for worker in workers:
                table.add_row(
                    worker["name"],
                    worker.get("queue", ""),
                    str(worker.get("running", 0)),
                    str(worker.get("succeeded", 0)),
                    str(worker.get("failed", 0)),
                )
            console.print(table)
        console.print(f"Running: {counts[TaskResultStatus.RUNNING]}")
        console.print(f"Ready: {counts[TaskResultStatus.READY]}")
        console.print(f"Failed in the last 24 hours: {failed}")
