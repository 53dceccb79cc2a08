from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn

from modules.api.clients import (
    ClientGenerationError,
    build_schema,
    generate_python,
    generate_typescript,
    node_problem,
    progress_bar,
    python_package_name,
)


class Command(BaseCommand):
    help = (
        "Generate API clients from the project's own OpenAPI schema (as /api/schema/ serves it) into clients/ or "
        "--out: a typed Python client in python/, TypeScript types with a fetch client in typescript/ (through npx: "
        "needs Node 20+), and the schema as openapi.json, replacing what an earlier run wrote there."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help="The folder to write into (default: clients/ in the project)")
        parser.add_argument(
            "--python",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="The Python client (default: on)",
        )
        parser.add_argument(
            "--typescript",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="The TypeScript types and fetch client (default: on; needs Node.js and npm's registry)",
        )
        parser.add_argument("--urlconf", help="A URLconf module to describe instead of ROOT_URLCONF")

    def handle(self, *args: Any, **options: Any) -> None:
        python, typescript = options["python"], options["typescript"]
        if not (python or typescript):
            raise CommandError("Nothing to generate: --no-python and --no-typescript together leave no client")
        # Before anything is written: a missing Node fails the run at once, not after the Python client.
        if typescript and (problem := node_problem()):
            raise CommandError(f"TypeScript client failed: {problem}")
        out: Path = (options["out"] or Path(settings.BASE_DIR) / "clients").resolve()
        package = python_package_name(settings.PROJECT_SLUG)
        console = Console(file=cast(IO[str], self.stdout), width=120)
        progress = progress_bar(
            self.stderr, SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
        )
        written: list[str] = []
        with progress:
            steps = progress.add_task("building the schema", total=1 + python + typescript)
            build = build_schema(options["urlconf"])
            try:
                out.mkdir(parents=True, exist_ok=True)
                document = out / "openapi.json"
                document.write_text(json.dumps(build.schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot write to {out}: {error.strerror or error}") from None
            written.append(f"schema: {document}")
            progress.advance(steps)
            if python:
                progress.update(steps, description="the Python client (openapi-python-client)")
                try:
                    folder = generate_python(build.schema, out / "python", package=package)
                except ClientGenerationError as error:
                    raise CommandError(f"Python client failed: {error.message}") from None
                written.append(f"Python client: {out / 'python'} (package {folder.name}; pip install {out / 'python'})")
                progress.advance(steps)
            if typescript:
                progress.update(steps, description="the TypeScript types and client (npx openapi-typescript)")
                info = build.schema.get("info", {})
                try:
                    files = generate_typescript(
                        document,
                        out / "typescript",
                        title=str(info.get("title", "API")),
                        package=package,
                        version=str(info.get("version", "0.0.0")),
                    )
                except ClientGenerationError as error:
                    raise CommandError(f"TypeScript client failed: {error.message}") from None
                written.append(f"TypeScript client: {out / 'typescript'} ({', '.join(file.name for file in files)})")
                progress.advance(steps)
        for line in written:
            console.print(line, highlight=False, soft_wrap=True)
        found = len(build.warnings) + len(build.errors)
        if found:
            console.print(
                f"The schema has {found} drf-spectacular warning(s) or error(s): python manage.py validate_openapi "
                "lists them.",
                highlight=False,
            )
        console.print(f"Generated from {len(build.operations())} operations.", highlight=False)
