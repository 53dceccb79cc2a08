from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.table import Table

from apps.tasks import services
from apps.tasks.exceptions import TaskQueueUnavailable
from apps.tasks.sweep import runs_find_lost, runs_mark_lost
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Fail READY or RUNNING runs whose message Redis no longer holds (flushed, failed over, cleared). "
        "A worker started with --with-timer does this every TASKS__SWEEP_INTERVAL seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lost-after",
            type=int,
            metavar="SECONDS",
            help="Only runs quiet for longer than this (default: TASKS__LOST_AFTER)",
        )
        parser.add_argument("--dry-run", action="store_true", help="List the lost runs without marking them")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = services.queue_backend()
        if backend is None:
            raise CommandError("the immediate backend keeps no queue; runs cannot be lost from it")
        lost_after = options["lost_after"]
        if lost_after is not None and lost_after < 0:
            raise CommandError("--lost-after must be 0 or more seconds")
        try:
            lost = runs_find_lost(backend, lost_after=lost_after)
        except TaskQueueUnavailable as error:
            raise CommandError(error.message) from error
        if not options["dry_run"]:
            lost = runs_mark_lost(lost, backend=backend)
        console = Console(file=cast(IO[str], self.stdout), width=120)
        verb = "Lost (not marked, --dry-run)" if options["dry_run"] else "Marked FAILED as lost"
        table = Table("run", "task", "queue", "was", "quiet since", title=f"{verb}: {len(lost)}")
        for run in lost:
            table.add_row(run.id, run.task_path, run.queue, run.status, run.quiet_since.isoformat(timespec="seconds"))
        console.print(table)
