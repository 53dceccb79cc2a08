"""clear_constance: every live setting back to the default the config gives it (config.constance.fields).

Each value is set through constance, so its config_updated signal records the change (modules.live_settings.changes)
like any other made outside the admin."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, cast

from constance import config
from constance.utils import get_values
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modules.live_settings.values import defaults

SHOWN_LENGTH = 60


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def shown(value: Any) -> str:
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


class Command(BaseCommand):
    help = (
        "Reset every live setting (django-constance) to its default from the config, after confirmation "
        "(--yes to skip it); prints what changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        # Checked before anything is read: a script that forgot --yes learns it at once, whatever the values.
        if not options["yes"] and not sys.stdin.isatty():
            raise CommandError("no terminal to confirm the reset in: pass --yes to reset the live settings")
        try:
            current = get_values()
        except DatabaseError as error:
            raise CommandError(f"could not read the live settings: {first_line(error)}") from None
        changes = {
            name: (current[name], default) for name, default in defaults().items() if current.get(name) != default
        }
        if not changes:
            self.stdout.write(f"All {len(current)} live settings have their defaults; nothing to reset.")
            return
        console = Console(file=cast(IO[str], self.stdout), width=120)
        table = Table("live setting", "now", "default", title=f"{len(changes)} live setting(s) differ from the config")
        for name, (value, default) in changes.items():
            # Values are whatever staff typed in the admin: plain text, never rich's markup.
            table.add_row(name, Text(shown(value)), Text(shown(default)))
        console.print(table)
        if not options["yes"]:
            answer = input(f"Reset {len(changes)} live setting(s) to their defaults? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("aborted; nothing was reset")
        try:
            with transaction.atomic():
                for name, (_value, default) in changes.items():
                    setattr(config, name, default)
        except DatabaseError as error:
            raise CommandError(f"could not reset the live settings: {first_line(error)}") from None
        self.stdout.write(self.style.SUCCESS(f"Reset {len(changes)} live setting(s): {', '.join(changes)}."))
