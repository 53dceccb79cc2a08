from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cfg.environment import Environment
from cfg.exceptions import ConfigurationError
from cfg.management.base import load_fresh


class Command(BaseCommand):
    help = "Validate the configuration from all its sources; exit 1 with a readable message when invalid."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--env",
            choices=[environment.value for environment in Environment],
            help="Validate as this environment (e.g. production) instead of the current one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        environ = dict(os.environ)
        if options["env"]:
            environ["DJANGO_ENV"] = options["env"]
        try:
            config = load_fresh(environ)
        except ConfigurationError as error:
            self.stderr.write(error.message)
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"Configuration is valid ({config.env.value})."))
