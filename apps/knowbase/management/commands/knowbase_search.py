from __future__ import annotations

from typing import IO, Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.table import Table

from apps.knowbase.exceptions import KnowbaseError
from apps.knowbase.management.common import STAFF_VIEW, shorten
from apps.knowbase.search import MODES, chunk_search
from cfg.management.base import ProjectCommand

EXCERPT_CHARS = 160


class Command(ProjectCommand):
    help = "Search the knowledge base and print the hits with their fused, vector and keyword scores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query", help="Words or a question")
        parser.add_argument("--mode", choices=MODES, default="hybrid", help="hybrid (default), vector or keyword")
        parser.add_argument("--limit", type=int, default=10, help="Hits to show (default 10)")
        parser.add_argument(
            "--as", dest="as_email", metavar="EMAIL", help="Search as this user sees (default: staff, who see all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        most = settings.KNOWBASE["SEARCH_MAX_RESULTS"]
        if not 1 <= options["limit"] <= most:
            raise CommandError(f"--limit must be from 1 to {most} (KNOWBASE__SEARCH_MAX_RESULTS)")
        if not options["query"].strip():
            raise CommandError("the query is empty")
        user: Any = STAFF_VIEW
        viewer = "staff (every document)"
        if options["as_email"]:
            user = get_user_model().objects.filter(email__iexact=options["as_email"].strip()).first()
            if user is None:
                raise CommandError(f"no user with the email address {options['as_email']!r}")
            viewer = f"{user} ({'staff: every document' if user.is_staff else 'own and public documents'})"
        try:
            hits = chunk_search(user=user, query=options["query"], limit=options["limit"], mode=options["mode"])
        except KnowbaseError as error:
            raise CommandError(error.message) from error
        console = Console(file=cast(IO[str], self.stdout), width=160)
        table = Table(
            "#",
            "fused",
            "vector",
            "keyword",
            "document",
            "page / heading",
            "excerpt",
            title=f"{len(hits)} hits, {options['mode']}, as {viewer}",
            title_justify="left",
        )
        for rank, hit in enumerate(hits, 1):
            place = " · ".join(part for part in (f"p. {hit.page}" if hit.page else "", hit.heading) if part)
            table.add_row(
                str(rank),
                f"{hit.score:.4f}",
                "" if hit.vector_score is None else f"{hit.vector_score:.3f}",
                "" if hit.keyword_score is None else f"{hit.keyword_score:.3f}",
                f"{shorten(hit.document_title, 40)} (#{hit.document_id})",
                shorten(place, 40),
                shorten(hit.text, EXCERPT_CHARS),
            )
        console.print(table)
