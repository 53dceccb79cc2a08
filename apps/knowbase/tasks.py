from __future__ import annotations

from django.tasks import task

from apps.knowbase.processing import document_process


@task
def process_document(document_id: int, revision: str | None = None) -> str:
    """Read, chunk and embed one document (apps.knowbase.processing)."""
    document = document_process(document_id=document_id, revision=revision)
    if document is None:
        return "skipped: deleted, or a newer version is queued"
    return f"{document.status}: {document.chunk_count} chunks, {document.chunks_embedded} embedded"
