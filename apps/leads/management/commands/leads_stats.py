from __future__ import annotations

import json
from datetime import timedelta
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from rich.console import Console
from rich.table import Table
from rich.text import Text

from apps.leads import selectors
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Leads by status and by source, with conversion (won of all leads): all time, or those created in the last "
        "--days days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="Only leads created in the last DAYS days")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and not 1 <= days <= 36_500:
            raise CommandError("--days must be from 1 to 36500")
        since = timezone.now() - timedelta(days=days) if days else None
        statuses = selectors.counts_by_status(since=since)
        sources = selectors.conversion_by_source(since=since)
        total, won = sum(statuses.values()), statuses["won"]
        report = {
            "since": since.isoformat() if since else None,
            "total": total,
            "by_status": statuses,
            "conversion": round(won / total, 4) if total else None,
            "by_source": [
                {
                    "source": row.source,
                    "total": row.total,
                    "won": row.won,
                    "lost": row.lost,
                    "conversion": round(row.conversion, 4),
                }
                for row in sources
            ],
        }
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        console = Console(file=cast(IO[str], self.stdout), width=120)
        scope = f"created in the last {days} days" if days else "all time"
        conversion = f"{100 * won / total:.1f}%" if total else "—"
        console.print(f"Leads ({scope}): {total}; conversion (won of all): {conversion}", highlight=False)
        by_status = Table("status", "leads")
        for status, count in statuses.items():
            by_status.add_row(status, str(count))
        console.print(by_status)
        by_source = Table("source", "leads", "won", "lost", "conversion")
        for row in sources:
            # A source is what a visitor's form (or a file) sent: plain text, never rich's markup or terminal codes.
            source = Text("".join(char if char.isprintable() else "?" for char in row.source))
            by_source.add_row(source, str(row.total), str(row.won), str(row.lost), f"{100 * row.conversion:.1f}%")
        console.print(by_source)
