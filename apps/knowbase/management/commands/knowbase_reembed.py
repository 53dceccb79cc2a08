from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from itertools import batched
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from apps.knowbase import vector_store
from apps.knowbase.chunking import embedding_input
from apps.knowbase.models import Chunk, Document
from cfg.management.base import ProjectCommand
from modules.llm.exceptions import LlmError
from modules.llm.interface import Embedder
from modules.llm.providers import get_embedder

WRITE_BATCH = 500
# Memory for building the HNSW index in one go (a cap: PostgreSQL takes what the graph needs, ~200 MB per 100,000
# chunks of 384 dimensions); a graph that does not fit is built far more slowly.
INDEX_BUILD_MEMORY = "512MB"
UPDATE_SQL = """
UPDATE knowbase_chunk AS c SET embedding = v.embedding::{column_type}
FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, content_hash, embedding)
WHERE c.id = v.id AND c.content_hash = v.content_hash
"""


class Command(ProjectCommand):
    help = (
        "After changing the embedding model or its dimension: retype the embedding column to the configured "
        "dimension (after a confirmation) and embed every chunk again with the configured embedder. Resumable: "
        "documents already embedded by it are skipped, unless --all."
    )
    # knowbase.E001 (the stored column does not fit the configured embedder) names this command as the fix.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="Change the column's dimension without asking")
        parser.add_argument("--batch-size", type=int, default=64, help="Chunks per embedding call (default 64)")
        parser.add_argument("--all", action="store_true", help="Embed every chunk again, even those up to date")

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            embedder = get_embedder()
        except LlmError as error:
            raise CommandError(f"the embedder could not be built: {error.message}") from error
        configured = vector_store.configured_dimensions()
        if embedder.dimensions != configured:
            raise CommandError(
                f"the embedder {embedder.name} makes {embedder.dimensions}-dimension vectors but "
                f"LLM__EMBEDDING_DIMENSIONS is {configured}: set it to {embedder.dimensions}"
            )
        stored = vector_store.stored_dimensions()
        if stored is None:
            raise CommandError("the knowbase tables do not exist: run python manage.py migrate")
        retyped = stored != configured
        if retyped:
            self._change_column(console, stored, configured, ask=not options["yes"])

        todo = Document.objects.filter(Exists(Chunk.objects.filter(document=OuterRef("pk"))))
        if not options["all"]:
            missing = Exists(Chunk.objects.filter(document=OuterRef("pk"), embedding__isnull=True))
            todo = todo.filter(~Q(embedder=embedder.name) | missing)
        documents = list(todo.order_by("pk").values_list("pk", flat=True))
        total = Chunk.objects.filter(document_id__in=documents).count()
        up_to_date = Document.objects.filter(Exists(Chunk.objects.filter(document=OuterRef("pk")))).count() - len(
            documents
        )
        # Inserting 100,000 vectors into a live HNSW index one by one takes many times longer than building the index
        # once over them. When every vector is new (the column was retyped, or an interrupted run left no index), the
        # index is dropped while they are written and built at the end.
        rebuild_index = bool(documents) and (retyped or not _index_exists())
        if rebuild_index:
            with connection.cursor() as cursor:
                cursor.execute(vector_store.drop_index_sql())
        embedded = skipped = 0
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=cast(IO[str], self.stderr)),
            transient=True,
        )
        with progress:
            bar = progress.add_task(f"embedding with {embedder.name}", total=total)
            for document_id in documents:
                done = reembed_document(
                    document_id, embedder, batch_size=options["batch_size"], advance=lambda n: progress.advance(bar, n)
                )
                if done is None:
                    skipped += 1
                else:
                    embedded += done
        if rebuild_index or not _index_exists():
            console.print("Building the HNSW index…")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
                cursor.execute(vector_store.create_index_sql())
        console.print(
            f"Embedded {embedded:,} chunks of {len(documents) - skipped} documents with {embedder.name} "
            f"({embedder.label}); {up_to_date} documents were already up to date."
        )
        if skipped:
            console.print(
                f"{skipped} documents changed while they were embedded: their own processing embeds them; run this "
                "again when it has finished to check."
            )

    def _change_column(self, console: Console, stored: int, configured: int, *, ask: bool) -> None:
        chunks = Chunk.objects.count()
        console.print(
            f"The embedding column stores {stored}-dimension vectors; the configured embedder makes {configured}. "
            f"Changing the column to {vector_store.column_type(configured)} empties the embeddings of {chunks:,} "
            "chunks until they are embedded again (vector search finds nothing meanwhile) and rebuilds the index."
        )
        if ask:
            if not sys.stdin.isatty():
                raise CommandError("not changing the column without a confirmation: run again with --yes")
            if input("Change it now? [y/N] ").strip().lower() not in ("y", "yes"):
                raise CommandError("nothing changed")
        with transaction.atomic():
            vector_store.change_dimensions(configured)
        console.print(f"The column is now {vector_store.column_type(configured)}, with its HNSW index.")


def reembed_document(
    document_id: int, embedder: Embedder, *, batch_size: int, advance: Callable[[int], object] = lambda n: None
) -> int | None:
    """Embed every chunk of a document again and record the embedder on it, in one transaction: an interrupted run
    leaves each document either done or untouched. None when the document changed meanwhile (its processing, which
    then runs, embeds it with the current embedder)."""
    document = Document.objects.filter(pk=document_id).only("pk", "title", "content_hash").first()
    if document is None:
        return None
    chunks = list(
        Chunk.objects.filter(document_id=document_id)
        .order_by("position")
        .values_list("id", "content_hash", "heading", "text")
    )
    vectors: list[list[float]] = []
    for batch in batched(chunks, batch_size, strict=False):
        inputs = [embedding_input(document.title, _heading_path(heading), text) for _, _, heading, text in batch]
        vectors.extend(embedder.embed_documents(inputs, purpose="knowbase.reembed"))
        advance(len(batch))
    with transaction.atomic():
        current = Document.objects.select_for_update().filter(pk=document_id).only("content_hash", "title").first()
        if current is None or (current.content_hash, current.title) != (document.content_hash, document.title):
            return None
        updated = _write(chunks, vectors)
        if updated != len(chunks):
            transaction.set_rollback(True)
            return None
        Document.objects.filter(pk=document_id).update(embedder=embedder.name)
    return updated


def _write(chunks: Sequence[tuple[int, str, str, str]], vectors: Sequence[Sequence[float]]) -> int:
    sql = UPDATE_SQL.format(column_type=vector_store.column_type())
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(chunks), WRITE_BATCH):
            part = chunks[start : start + WRITE_BATCH]
            cursor.execute(
                sql,
                [
                    [chunk[0] for chunk in part],
                    [chunk[1] for chunk in part],
                    [
                        "[" + ",".join(map(repr, map(float, vector))) + "]"
                        for vector in vectors[start : start + WRITE_BATCH]
                    ],
                ],
            )
            updated += cursor.rowcount
    return updated


def _index_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [vector_store.INDEX])
        row = cursor.fetchone()
    return bool(row and row[0])


def _heading_path(heading: str) -> tuple[str, ...]:
    return tuple(heading.split(" > ")) if heading else ()
