from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count
from rich.console import Console
from rich.table import Table

from apps.knowbase import vector_store
from apps.knowbase.management.common import shorten
from apps.knowbase.models import Chunk, Document, Status
from cfg.management.base import ProjectCommand
from modules.llm.exceptions import LlmError
from modules.llm.providers import get_embedder

FAILED_SHOWN = 50


class Command(ProjectCommand):
    help = (
        "Knowledge base figures: documents by status, chunks, the embedder and the stored embedding column, the "
        "sizes of the chunk table and its HNSW index, and the failed documents with their reasons."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        try:
            embedder = get_embedder()
        except LlmError as error:
            raise CommandError(f"the embedder could not be built: {error.message}") from error
        column, index_bytes, table_bytes, total_bytes = _storage()
        if column is None:
            raise CommandError("the knowbase tables do not exist: run python manage.py migrate")

        by_status = dict(
            Document.objects.values_list("status").annotate(count=Count("id")).values_list("status", "count")
        )
        documents = Table("status", "documents", title="Documents", title_justify="left")
        for status in Status:
            documents.add_row(status.label, str(by_status.get(status.value, 0)))
        documents.add_row("[bold]all[/]", str(sum(by_status.values())))
        console.print(documents)

        chunks = Chunk.objects.count()
        unembedded = Chunk.objects.filter(embedding__isnull=True).count()
        stale = Document.objects.filter(chunk_count__gt=0).exclude(embedder=embedder.name).exclude(status=Status.FAILED)
        stored = vector_store.stored_dimensions()
        facts = Table(show_header=False, title="Chunks and index", title_justify="left")
        facts.add_row("chunks", f"{chunks:,}" + (f" ({unembedded:,} without an embedding)" if unembedded else ""))
        facts.add_row("embedder", f"{embedder.name}: {embedder.label}")
        facts.add_row("embedder dimensions", str(embedder.dimensions))
        facts.add_row("stored column", column)
        facts.add_row("HNSW index", "missing" if index_bytes is None else _size(index_bytes))
        facts.add_row("chunk table", f"{_size(table_bytes)} ({_size(total_bytes)} with its indexes and TOAST)")
        console.print(facts)
        if stored is not None and stored != embedder.dimensions:
            console.print(
                f"[red]The column stores {stored} dimensions but the embedder makes {embedder.dimensions}: run "
                "python manage.py knowbase_reembed.[/]"
            )
        elif stale.exists():
            names = dict(stale.values_list("embedder").annotate(count=Count("id")).values_list("embedder", "count"))
            listed = ", ".join(f"{count} by {name or 'none'}" for name, count in names.items())
            console.print(
                f"[yellow]Documents embedded by another embedder ({listed}): their vectors do not compare with "
                f"{embedder.name}'s; run python manage.py knowbase_reembed.[/]"
            )

        failed = Document.objects.filter(status=Status.FAILED).order_by("-updated_at")
        count = failed.count()
        if count:
            table = Table("id", "document", "attempts", "reason", title=f"Failed: {count}", title_justify="left")
            for document in failed[:FAILED_SHOWN]:
                table.add_row(
                    str(document.pk),
                    shorten(document.source_name, 40),
                    str(document.attempts),
                    shorten(document.error, 60),
                )
            console.print(table)
            if count > FAILED_SHOWN:
                console.print(f"… and {count - FAILED_SHOWN} more (the admin lists them all)")


def _storage() -> tuple[str | None, int | None, int, int]:
    """The embedding column's type, the HNSW index's size (None when it is missing), the chunk table's size, and
    the table's size with its indexes and TOAST."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = %s AND a.attname = %s AND NOT a.attisdropped AND pg_table_is_visible(c.oid)",
            [vector_store.TABLE, vector_store.COLUMN],
        )
        row = cursor.fetchone()
        if row is None:
            return None, None, 0, 0
        cursor.execute(
            "SELECT pg_relation_size(to_regclass(%s)), pg_relation_size(to_regclass(%s)),"
            " pg_total_relation_size(to_regclass(%s))",
            [vector_store.INDEX, vector_store.TABLE, vector_store.TABLE],
        )
        index_bytes, table_bytes, total_bytes = cursor.fetchone()
    return str(row[0]), index_bytes, int(table_bytes), int(total_bytes)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover
