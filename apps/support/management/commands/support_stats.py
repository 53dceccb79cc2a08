from __future__ import annotations

import json
from datetime import timedelta
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from apps.support import selectors
from apps.support.management.common import first_line

DEFAULT_DAYS = 7


class Command(BaseCommand):
    help = (
        "Support figures: open tickets by status and how many breached their SLA, and over the last --days days "
        "(7 by default) the tickets opened by priority and the median first response and resolution times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="The period, in days (default 7)")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 1 <= days <= 36_500:
            raise CommandError("--days must be from 1 to 36500")
        try:
            stats = selectors.support_stats(since=timezone.now() - timedelta(days=days))
        except DatabaseError as error:
            raise CommandError(
                f"support figures unavailable: the database refused the query ({first_line(error)})"
            ) from error
        if options["json"]:
            self.stdout.write(json.dumps({"days": days, **stats}, indent=2, cls=DjangoJSONEncoder))
            return
        console = Console(file=cast(IO[str], self.stdout), width=120)
        breached = stats["open_breached"]
        console.print(
            f"Open tickets: {stats['open_total']}; breached: {breached['any']} "
            f"(first response {breached['first_response']}, resolution {breached['resolution']})",
            highlight=False,
        )
        by_status = Table("status", "open tickets")
        for status, count in stats["open_by_status"].items():
            by_status.add_row(status, str(count))
        console.print(by_status)
        console.print(f"Last {days} days: {stats['created']} opened, {stats['resolved']} resolved", highlight=False)
        by_priority = Table("priority", "opened")
        for priority, count in stats["created_by_priority"].items():
            by_priority.add_row(priority, str(count))
        console.print(by_priority)
        console.print(
            f"Median first response: {duration(stats['median_first_response_seconds'])} "
            f"({stats['first_responses']} tickets); median resolution: "
            f"{duration(stats['median_resolution_seconds'])} ({stats['resolved']} tickets)",
            highlight=False,
        )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours / 24:.1f} days"
