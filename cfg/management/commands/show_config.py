from __future__ import annotations

import json
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console
from rich.pretty import Pretty

from cfg.config import DjangoConfig
from cfg.introspection import env_var_reference, mapping_defaults, masked_dump
from cfg.management.base import config_class, load_fresh


class _ReadableDumper(yaml.SafeDumper):
    """Double quotes for text holding a single quote: "'self'" reads better than '\'\'self\'\''."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if "'" in text else None)


_ReadableDumper.add_representer(str, _represent_text)


class Command(BaseCommand):
    help = "Show the configuration with secrets masked (--json for machines, --env-vars for the reference table)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON")
        parser.add_argument("--env-vars", action="store_true", help="Print every environment variable as Markdown")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["env_vars"]:
            self._write_env_vars(config_class())
            return
        data = masked_dump(load_fresh())
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        Console(file=self.stdout, width=120).print(Pretty(data, expand_all=True))  # type: ignore[arg-type]

    def _write_env_vars(self, model: type[DjangoConfig]) -> None:
        self.stdout.write("| Variable | Default | Per environment | Meaning |\n| --- | --- | --- | --- |")
        for row in env_var_reference(model):
            # A pipe would end the table cell and a line break the row: a docstring may wrap.
            meaning = " ".join(row.description.split()).replace("|", "\\|")
            self.stdout.write(f"| `{row.name}` | `{row.default}` | {row.per_environment} | {meaning} |")
        self.stdout.write(
            "\nThe defaults that are mappings, as they would be written in config/environments/<env>.yaml (a "
            "mapping given there replaces the default as a whole):\n\n```yaml"
        )
        text = yaml.dump(
            mapping_defaults(model), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100
        )
        self.stdout.write(text.rstrip())
        self.stdout.write("```")
