"""The write operations of knowbase: documents in (submitted, updated, reprocessed, deleted). Their processing into
chunks is apps.knowbase.processing (the task's body); reads and search, apps.knowbase.selectors and
apps.knowbase.search; answers, apps.knowbase.answers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.knowbase.exceptions import DocumentNotReprocessable, DocumentTooLarge, UrlFetchDisabled, UrlRefused
from apps.knowbase.extraction import detect_kind
from apps.knowbase.models import Category, Chunk, Document, Status, private_storage
from apps.knowbase.processing import replace_original
from apps.knowbase.tasks import process_document
from modules.llm.providers import get_embedder

Outcome = Literal["created", "updated", "unchanged"]
# A document left in `processing` longer than this (its worker died) may be reprocessed.
STALE_PROCESSING = timedelta(minutes=15)


@dataclass(frozen=True)
class Submission:
    document: Document
    outcome: Outcome


def _limits() -> dict[str, Any]:
    return settings.KNOWBASE  # type: ignore[no-any-return]


def _title_from_name(source_name: str) -> str:
    name = PurePath(urlsplit(source_name).path or source_name).name or source_name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.replace("_", " ").replace("-", " ").strip()[:300] or "Untitled"


KEEP: Literal[False] = False


def document_submit(
    *,
    owner: Any,
    data: bytes,
    source_name: str,
    title: str = "",
    visibility: str | None = None,
    category: Category | Literal[False] | None = KEEP,
    declared_type: str | None = None,
) -> Submission:
    """Add a document, or update the one of this owner with this source name. Its kind is decided by content (a 415
    before anything is stored); its text is read and embedded by a task. The same bytes again change nothing (no
    task, no embedding call); changed bytes re-embed only the chunks that changed. Visibility (private when new)
    and category (none when new) change only when given."""
    if len(data) > _limits()["MAX_UPLOAD_BYTES"]:
        raise DocumentTooLarge(f"The document is larger than {_limits()['MAX_UPLOAD_BYTES']} bytes.")
    kind = detect_kind(data, filename=source_name, declared_type=declared_type)
    digest = hashlib.sha256(data).hexdigest()
    source_name = source_name.strip()[:1000]
    with _stored_files_removed_on_failure() as stored, transaction.atomic():
        document = _document_for_source(owner, source_name)
        unchanged = (
            document.pk
            and document.content_hash == digest
            and document.status != Status.FAILED
            and document.embedder in ("", get_embedder().name)
        )
        if unchanged and _same_title(document, title):
            _place(document, visibility=visibility, category=category)
            return Submission(document, "unchanged")
        outcome: Outcome = "updated" if document.pk else "created"
        _retitle(document, title, created=outcome == "created")
        document.source_kind = kind
        document.content_hash = digest
        document.size_bytes = len(data)
        replace_original(document, data, PurePath(source_name).name or "document")
        if document.original.name:
            stored.append(document.original.name)
        _place(document, visibility=visibility, category=category)
        _mark_pending(document)
    return Submission(document, outcome)


def document_submit_url(
    *,
    owner: Any,
    url: str,
    title: str = "",
    visibility: str | None = None,
    category: Category | Literal[False] | None = KEEP,
) -> Submission:
    """Add (or fetch again) a document from a URL: off unless KNOWBASE__URL_FETCH_ENABLED; the fetch itself runs in
    the task, which refuses private, loopback and link-local addresses on every hop."""
    if not _limits()["URL_FETCH_ENABLED"]:
        raise UrlFetchDisabled()
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("Only http and https URLs with a host name can be fetched.")
    source_name = url.strip()[:1000]
    with transaction.atomic():
        document = _document_for_source(owner, source_name)
        if document.status == Status.PROCESSING and not _stale(document):
            raise DocumentNotReprocessable()
        outcome: Outcome = "updated" if document.pk else "created"
        _retitle(document, title, created=outcome == "created")
        document.source_url = source_name
        _place(document, visibility=visibility, category=category)
        _mark_pending(document)
    return Submission(document, outcome)


def _document_for_source(owner: Any, source_name: str) -> Document:
    """The owner's document of this source, locked, or a new unsaved one. Two requests with the same source wait
    for each other here (a transaction-scoped advisory lock: a row lock cannot lock a row that does not exist yet),
    so the second updates what the first created instead of failing on the unique constraint."""
    key = f"knowbase:{getattr(owner, 'pk', None)}:{source_name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
    document = Document.objects.select_for_update().filter(owner=owner, source_name=source_name).first()
    return document or Document(owner=owner, source_name=source_name, title="", content_hash="")


@contextmanager
def _stored_files_removed_on_failure() -> Iterator[list[str]]:
    """Files written to storage inside a transaction that then fails are removed: no original without its row."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        storage = private_storage()
        for name in stored:
            storage.delete(name)
        raise


def _retitle(document: Document, title: str, *, created: bool) -> None:
    given = title.strip()[:300]
    document.title = given or document.title or _title_from_name(document.source_name)
    document.title_is_automatic = not given and (created or document.title_is_automatic)


def _place(document: Document, *, visibility: str | None, category: Category | Literal[False] | None) -> None:
    """Set the visibility and category that were given (a new document: private, no category); a saved document's
    chunks follow at once."""
    if visibility is not None:
        document.visibility = visibility
    if category is not KEEP:
        document.category = category
    if document.pk:
        document.save(update_fields=["visibility", "category", "updated_at"])
        _apply_placement(document)


def document_update(
    *,
    document: Document,
    title: str | None = None,
    visibility: str | None = None,
    category: Category | Literal[False] | None = False,
) -> Document:
    """Change the title, visibility or category. Visibility and category apply to the chunks at once; a new title
    is part of what each chunk embeds, so the document is processed again (its chunks' hashes change)."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        placement_changed = False
        if visibility is not None and visibility != document.visibility:
            document.visibility = visibility
            placement_changed = True
        if category is not False and category != document.category:
            document.category = category
            placement_changed = True
        if placement_changed:
            document.save(update_fields=["visibility", "category", "updated_at"])
            _apply_placement(document)
        if title is not None and title.strip() and title.strip()[:300] != document.title:
            document.title = title.strip()[:300]
            document.title_is_automatic = False
            document.save(update_fields=["title", "title_is_automatic", "updated_at"])
            # Also while a run is embedding: that run sees the new title at its end and stores nothing.
            _mark_pending(document)
    return document


def document_reprocess(*, document: Document) -> Document:
    """Process a document again (after a failure, say). One that is being processed now cannot be (409)."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        if document.status == Status.PROCESSING and not _stale(document):
            raise DocumentNotReprocessable()
        _mark_pending(document)
    return document


def document_delete(*, document: Document) -> None:
    original = document.original.name if document.original else ""
    storage = document.original.storage
    with transaction.atomic():
        document.delete()
        if original:
            transaction.on_commit(lambda: storage.delete(original))


def _same_title(document: Document, title: str) -> bool:
    return not title.strip() or title.strip()[:300] == document.title


def _stale(document: Document) -> bool:
    started = document.processing_started_at
    return started is None or timezone.now() - started > STALE_PROCESSING


def _mark_pending(document: Document) -> None:
    document.status = Status.PENDING
    document.error = ""
    document.save()
    revision = document.content_hash
    document_id = document.pk
    transaction.on_commit(lambda: process_document.enqueue(document_id, revision))


def _apply_placement(document: Document) -> None:
    """The chunks carry their document's owner, visibility and category, so that a filtered search reads one table."""
    Chunk.objects.filter(document=document).exclude(is_public=document.is_public, category=document.category).update(
        is_public=document.is_public, category=document.category
    )
