from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cfg.introspection import env_var_reference, masked_dump
from cfg.management.base import config_class, load_fresh


class Command(BaseCommand):
    help = "Show the configuration with secrets masked (--json for machines, --env-vars for the reference table)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON")
        parser.add_argument("--env-vars", action="store_true", help="Print every environment variable as Markdown")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["env_vars"]:
            self.stdout.write("| Variable | Default | Meaning |\n| --- | --- | --- |")
            for name, default, description in env_var_reference(config_class()):
                meaning = description.replace("|", "\\|")  # a pipe would end the table cell
                self.stdout.write(f"| `{name}` | `{default}` | {meaning} |")
            return
        data = masked_dump(load_fresh())
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        from rich.console import Console
        from rich.pretty import Pretty

        Console(file=self.stdout, width=120).print(Pretty(data, expand_all=True))  # type: ignore[arg-type]
