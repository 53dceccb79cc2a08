from __future__ import annotations

from collections import Counter
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import SpinnerColumn, TextColumn

from modules.api.clients import PROBLEM_KINDS, build_schema, progress_bar, schema_problems


class Command(BaseCommand):
    help = (
        "Check the project's OpenAPI schema (as /api/schema/ serves it): exit 1, listing each problem on a line, on "
        "any warning or error of the schema generator, any operation without a description or without a documented "
        "error response (a 4xx), and anything the OpenAPI spec validator refuses."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--urlconf", help="A URLconf module to check instead of ROOT_URLCONF")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = progress_bar(self.stderr, SpinnerColumn(), TextColumn("{task.description}"))
        with progress:
            step = progress.add_task("building the schema", total=2)
            build = build_schema(options["urlconf"])
            progress.update(step, advance=1, description="checking the operations and validating the schema")
            problems = schema_problems(build)
            progress.advance(step)
        operations = len(build.operations())
        if problems:
            for problem in problems:
                self.stderr.write(problem.text)
            kinds = Counter(problem.kind for problem in problems)
            summary = ", ".join(f"{kinds[kind]} {kind}" for kind in PROBLEM_KINDS if kinds[kind])
            raise CommandError(
                f"The OpenAPI schema has {len(problems)} problem(s) in {operations} operations: {summary}"
            )
        console = Console(file=cast(IO[str], self.stdout), width=120)
        console.print(
            f"The OpenAPI schema is clean: {operations} operations, each described and with a documented error "
            f"response; no drf-spectacular warning; valid OpenAPI {build.schema.get('openapi', '')}.",
            highlight=False,
            soft_wrap=True,
        )
