from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from apps.tasks import services
from apps.tasks.exceptions import TaskQueueUnavailable
from apps.tasks.models import FINAL_STATUSES, TaskRun
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = "Purge a queue's waiting tasks (--queue) and/or delete finished runs older than N days (--older-than)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", help="Drop the waiting and delayed tasks of this queue (running ones finish)")
        parser.add_argument("--older-than", type=int, metavar="DAYS", help="Delete finished runs older than DAYS")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        queue, days = options["queue"], options["older_than"]
        if queue is None and days is None:
            raise CommandError("say what to clear: --queue NAME and/or --older-than DAYS")
        if days is not None and days < 0:
            raise CommandError("--older-than must be 0 or more days")
        backend = services.queue_backend()
        if queue is not None:
            if backend is None:
                raise CommandError("the immediate backend keeps no queue; there is nothing to purge")
            if queue not in backend.queues:
                raise CommandError(f"unknown queue {queue!r}; configured: {', '.join(sorted(backend.queues))}")
        plan = []
        if queue is not None:
            try:
                depth = backend.queue.depth(queue)  # type: ignore[union-attr]
            except TaskQueueUnavailable as error:
                raise CommandError(error.message) from error
            waiting, delayed, running = depth["waiting"], depth["delayed"], depth["running"]
            plan.append(
                f"purge {waiting + delayed} waiting task(s) from queue {queue!r} "
                f"({waiting} queued, {delayed} delayed; {running} running are left to finish)"
            )
        if days is not None:
            cutoff = timezone.now() - timedelta(days=days)
            old = TaskRun.objects.filter(status__in=FINAL_STATUSES, finished_at__lt=cutoff).count()
            plan.append(f"delete {old} finished run(s) older than {days} day(s)")
        if not options["yes"]:
            answer = input(f"This will {' and '.join(plan)}. Continue? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("aborted; nothing was cleared")
        if queue is not None:
            try:
                purged = services.queue_purge(queue)
            except TaskQueueUnavailable as error:
                raise CommandError(error.message) from error
            self.stdout.write(
                f"Purged {purged.removed} task(s) from queue {queue!r}; {purged.failed} run(s) marked FAILED."
                + ("" if purged.failed == purged.removed else " The others had already finished or were not recorded.")
            )
        if days is not None:
            deleted = services.runs_delete_finished_before(timezone.now() - timedelta(days=days))
            self.stdout.write(f"Deleted {deleted} finished run(s) older than {days} day(s).")
