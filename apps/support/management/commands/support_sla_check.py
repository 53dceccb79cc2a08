from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from apps.support import sla, tasks
from apps.support.management.common import first_line


class Command(BaseCommand):
    help = (
        "Flag the overdue SLA clocks (first response, resolution) as the periodic task does, and notify each breach "
        "(the assignee by email, the support chat by Telegram): enqueued as the task does, or sent here with "
        "--inline. --dry-run lists what would be flagged and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would be flagged; flag nothing")
        parser.add_argument(
            "--inline", action="store_true", help="Send the notifications in this process instead of enqueuing them"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run, inline = options["dry_run"], options["inline"]
        # Each breach is notified as its flag commits (sla.flag_breaches): a run cut short has notified every breach
        # it flagged.
        notify = self._send if inline else tasks.enqueue_breach_notification
        try:
            breaches = sla.breach_candidates() if dry_run else sla.flag_breaches(on_flagged=notify)
        except DatabaseError as error:
            raise CommandError(f"SLA check failed: the database refused it ({first_line(error)})") from error
        verb = "would flag" if dry_run else "flagged"
        for breach in breaches:
            label = breach.which.replace("_", " ")
            self.stdout.write(f"#{breach.number}: {label} {verb} (due {breach.due_at.isoformat()})")
        self.stdout.write(f"{len(breaches)} breach(es) {verb}.")
        if breaches and not dry_run and not inline:
            self.stdout.write(f"{len(breaches)} notification(s) enqueued.")

    def _send(self, breach: sla.Breach) -> None:
        try:
            done = tasks.notify_breach.call(breach.ticket_id, breach.which)
        except Exception as error:
            # The flag is set: the run goes on to the other breaches, and says which one was not told.
            self.stderr.write(f"#{breach.number}: {breach.which.replace('_', ' ')} not notified ({first_line(error)})")
            return
        self.stdout.write(f"#{breach.number}: {done}")
