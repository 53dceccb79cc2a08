"""migrate_all: every database alias migrated in turn, default first."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cfg.management.databases import MigrateFailed, console_for, database_aliases, migrate_aliases, summary_table


class Command(BaseCommand):
    help = (
        "Migrate every database alias (default first, then the others in config order) with the apps the router "
        "sends to it; stop at the first alias that fails and exit 1 naming it. Prints a summary table."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        console = console_for(self.stdout)
        try:
            results = migrate_aliases(database_aliases(), console)
        except MigrateFailed as failure:
            console.print(summary_table(failure.results))
            raise CommandError(failure.message) from failure
        console.print(summary_table(results))
