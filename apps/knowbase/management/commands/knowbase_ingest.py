from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, Any, cast

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from apps.knowbase.management.ingest import (
    RESULT_KINDS,
    FileResult,
    MissingPath,
    collect_sources,
    duplicate_names,
    ingest_source,
)
from apps.knowbase.models import Category, Visibility
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Add or update knowledge base documents from files and folders (recursively). A file's source name is its "
        "path relative to the folder given, so running it again updates the documents instead of duplicating them. "
        "Exit 1 when any file failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files and folders")
        parser.add_argument("--owner", metavar="EMAIL", help="The user who owns them (default: the project itself)")
        parser.add_argument("--public", action="store_true", help="Visible to every user (default: private)")
        parser.add_argument("--category", metavar="SLUG", help="Put them in this category (it must exist)")
        parser.add_argument("--title", default="", help="The title, for a single file (default: from the file)")

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        owner = self._owner(options["owner"])
        category = self._category(options["category"])
        try:
            sources = collect_sources(options["paths"])
        except MissingPath as error:
            raise CommandError(str(error)) from None
        if options["title"] and not (len(sources) == 1 and sources[0].named):
            raise CommandError("--title names one document: give a single file, not several files or a folder")
        if not sources:
            raise CommandError("no files found under " + ", ".join(str(path) for path in options["paths"]))
        visibility = Visibility.PUBLIC if options["public"] else Visibility.PRIVATE
        duplicates = duplicate_names(sources)

        results: list[FileResult] = []
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=cast(IO[str], self.stderr)),
            transient=True,
        )
        with progress:
            bar = progress.add_task("ingesting", total=len(sources))
            for source in sources:
                progress.update(bar, description=f"ingesting {_shorten(source.source_name)}")
                if source.path in duplicates:
                    first = duplicates[source.path]
                    reason = (
                        f"same source name as {first.path}: ingest the folders that hold them from a common parent "
                        "folder, or in separate runs with different owners"
                    )
                    results.append(FileResult(source, "failed", reason=reason))
                else:
                    results.append(
                        ingest_source(
                            source, owner=owner, visibility=visibility, category=category, title=options["title"]
                        )
                    )
                progress.advance(bar)

        counts = Counter(result.kind for result in results)
        queued = sum(result.queued for result in results)
        summary = ", ".join(f"{kind} {counts[kind]}" for kind in RESULT_KINDS)
        console.print(f"{len(results)} files: {summary}" + (f" ({queued} queued for the worker)" if queued else ""))
        problems = [result for result in results if result.kind in ("failed", "skipped")]
        if problems:
            table = Table("file", "", "reason", title="Not ingested", title_justify="left")
            for result in problems:
                name = str(result.source.path) if result.source.named else result.source.source_name
                table.add_row(name, result.kind, result.reason)
            console.print(table)
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} of {len(results)} files failed (listed above)")

    def _owner(self, email: str | None) -> Any:
        if not email:
            return None
        owner = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if owner is None:
            raise CommandError(f"no user with the email address {email!r}")
        return owner

    def _category(self, slug: str | None) -> Category | None:
        if not slug:
            return None
        category = Category.objects.filter(slug=slug).first()
        if category is None:
            known = ", ".join(Category.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"no category {slug!r} (known: {known}); create it in the admin first")
        return category


def _shorten(name: str, width: int = 40) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]
