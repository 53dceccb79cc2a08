from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.tasks import services
from apps.tasks.exceptions import RunNotRetryable, TaskQueueUnavailable
from apps.tasks.models import TaskRun
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = "Enqueue a finished run again (same task, same arguments) as a new run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", help="The run's id (the task result id)")

    def handle(self, *args: Any, **options: Any) -> None:
        run = TaskRun.objects.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"no run with id {options['run_id']!r}")
        try:
            result = services.run_retry(run)
        except (RunNotRetryable, TaskQueueUnavailable) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Enqueued {run.task_path} again as {result.id} (status {result.status}).")
