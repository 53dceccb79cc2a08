"""Processing a document into chunks: the body of the process_document task. Chunks whose hash is already stored
keep their embedding, so an unchanged document costs no embedding call."""

from __future__ import annotations

import hashlib
import logging
import time
from email.message import Message
from typing import Any, cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.knowbase import vector_store
from apps.knowbase.chunking import ChunkDraft, chunk_document, embedding_input
from apps.knowbase.exceptions import DocumentTooLarge, EmbeddingDimensionMismatch, KnowbaseError
from apps.knowbase.extraction import Kind, detect_kind, extract
from apps.knowbase.models import Chunk, Document, Status
from modules.api.exceptions import ServiceError
from modules.llm.exceptions import ProviderUnavailable
from modules.llm.providers import get_embedder

logger = logging.getLogger(__name__)

INSERT_BATCH = 500
PROCESSING_FIELDS = [
    "title",
    "status",
    "error",
    "embedder",
    "page_count",
    "char_count",
    "chunk_count",
    "chunks_embedded",
    "processed_at",
    "extraction_ms",
    "embedding_ms",
    "updated_at",
]


def as_utf8(data: bytes, content_type: str) -> bytes:
    """A page served in another charset (Latin-1, say) is stored as UTF-8, the encoding extraction reads."""
    header = Message()
    header["content-type"] = content_type or "application/octet-stream"
    charset = header.get_content_charset()
    if not charset or charset.replace("-", "").lower() == "utf8" or data.startswith(b"%PDF-"):
        return data
    try:
        return data.decode(charset).encode()
    except (LookupError, UnicodeDecodeError):
        return data


def replace_original(document: Document, data: bytes, filename: str) -> None:
    """Store new original bytes; the old file goes once the change is committed."""
    old = document.original.name if document.original else ""
    document.original.save(filename, ContentFile(data), save=False)
    if old and old != document.original.name:
        storage = document.original.storage
        transaction.on_commit(lambda: storage.delete(old))


def document_process(*, document_id: int, revision: str | None = None) -> Document | None:
    """Read, chunk and embed a document (the task's body). Chunks whose hash is already stored keep their
    embedding: an unchanged document costs no embedding call. A newer submission that arrived meanwhile wins: this
    run then stores nothing. A failure is recorded on the document, which can be reprocessed."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None or (revision is not None and document.content_hash != revision):
            return None  # deleted, or a newer version is queued
        document.status = Status.PROCESSING
        document.attempts += 1
        document.processing_started_at = timezone.now()
        document.save(update_fields=["status", "attempts", "processing_started_at", "updated_at"])
    try:
        return _process(document)
    except ProviderUnavailable as error:
        # Likely to pass on a later attempt: the task's retries (TASKS__MAX_RETRIES, with backoff) try again.
        _mark_failed(document, f"{error.message} A temporary failure: the worker's retries, or a reprocess, redo it.")
        raise
    except (KnowbaseError, ServiceError) as error:
        _mark_failed(document, error.message)
        return document
    except Exception as error:
        _mark_failed(document, f"Unexpected error ({type(error).__name__}); see the task run for details.")
        raise


def _process(document: Document) -> Document | None:
    limits: dict[str, Any] = settings.KNOWBASE
    embedder = get_embedder()
    stored = vector_store.stored_dimensions()
    if stored is not None and stored != embedder.dimensions:
        raise EmbeddingDimensionMismatch()
    started = time.perf_counter()
    if document.source_url:
        # httpx and httpcore load with the first fetch, in the worker that makes it.
        from apps.knowbase import url_fetch

        page = url_fetch.fetch_url(
            document.source_url, max_bytes=limits["URL_FETCH_MAX_BYTES"], timeout=limits["URL_FETCH_TIMEOUT"]
        )
        data = as_utf8(page.data, page.content_type)
        digest = hashlib.sha256(data).hexdigest()
        kind = detect_kind(data, filename=page.filename, declared_type=page.content_type)
        if digest != document.content_hash or not document.original:
            with transaction.atomic():
                current = Document.objects.select_for_update().filter(pk=document.pk).first()
                if current is None:
                    return None
                replace_original(current, data, page.filename or "page")
                current.content_hash, current.source_kind, current.size_bytes = digest, kind, len(data)
                current.save(update_fields=["original", "content_hash", "source_kind", "size_bytes", "updated_at"])
            document.original = current.original
            document.content_hash, document.source_kind, document.size_bytes = digest, kind, len(data)
    else:
        with document.original.open("rb") as original:
            data = original.read()
        kind = cast(Kind, document.source_kind)
    extracted = extract(data, kind, max_pages=limits["MAX_PDF_PAGES"])
    if len(extracted.text) > limits["MAX_TEXT_CHARS"]:
        raise DocumentTooLarge(
            f"The document holds {len(extracted.text)} characters of text; the limit is {limits['MAX_TEXT_CHARS']}."
        )
    if document.title_is_automatic and extracted.title:
        document.title = extracted.title.strip()[:300]
    drafts = chunk_document(
        extracted, title=document.title, target_words=limits["CHUNK_WORDS"], overlap=limits["CHUNK_OVERLAP"]
    )
    extraction_ms = int((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    known: dict[str, list[float]] = {}
    if document.embedder == embedder.name:
        known = {
            content_hash: embedding
            for content_hash, embedding in Chunk.objects.filter(document=document, embedding__isnull=False)
            .values_list("content_hash", "embedding")
            .iterator()
            if embedding is not None
        }
    missing = {draft.content_hash: draft for draft in drafts if draft.content_hash not in known}
    if missing:
        inputs = [embedding_input(document.title, draft.heading_path, draft.text) for draft in missing.values()]
        vectors = embedder.embed_documents(inputs, purpose="knowbase.ingest")
        known.update(zip(missing, vectors, strict=True))
    embedding_ms = int((time.perf_counter() - started) * 1000)

    with transaction.atomic():
        current = Document.objects.select_for_update().filter(pk=document.pk).first()
        if current is None or current.content_hash != document.content_hash:
            return None  # deleted, or changed while this run embedded: the newer run stores its chunks
        if not current.title_is_automatic and current.title != document.title:
            return None  # retitled while this run embedded: the run that the change queued embeds the new title
        # Only what processing owns is written: a visibility or category changed meanwhile stays as it was set.
        current.title = document.title
        Chunk.objects.filter(document=current).delete()
        Chunk.objects.bulk_create(
            (_chunk(current, draft, known[draft.content_hash]) for draft in drafts), batch_size=INSERT_BATCH
        )
        current.status = Status.READY
        current.error = ""
        current.embedder = embedder.name
        current.page_count = extracted.page_count
        current.char_count = len(extracted.text)
        current.chunk_count = len(drafts)
        current.chunks_embedded = len(missing)
        current.processed_at = timezone.now()
        current.extraction_ms = extraction_ms
        current.embedding_ms = embedding_ms
        current.save(update_fields=PROCESSING_FIELDS)
    return current


def _chunk(document: Document, draft: ChunkDraft, embedding: list[float]) -> Chunk:
    return Chunk(
        document=document,
        position=draft.position,
        text=draft.text,
        heading=" > ".join(draft.heading_path)[:1000],
        page=draft.page,
        char_start=draft.char_start,
        char_end=draft.char_end,
        token_count=draft.token_count,
        content_hash=draft.content_hash,
        embedding=embedding,
        owner_id=document.owner_id,
        is_public=document.is_public,
        category_id=document.category_id,
    )


def _mark_failed(document: Document, message: str) -> None:
    Document.objects.filter(pk=document.pk).update(
        status=Status.FAILED, error=message[:2000], processed_at=timezone.now(), updated_at=timezone.now()
    )
    logger.warning("knowbase: document %s failed: %s", document.pk, message)
