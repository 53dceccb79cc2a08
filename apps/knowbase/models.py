from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from apps.knowbase.fields import EmbeddingField


class SourceKind(models.TextChoices):
    TEXT = "text", "Plain text"
    MARKDOWN = "markdown", "Markdown"
    HTML = "html", "HTML"
    PDF = "pdf", "PDF"


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private: the owner and staff"
    PUBLIC = "public", "Public: every user"


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class _PrivateStorage(LazyObject):  # type: ignore[type-arg]
    """STORAGES["private"], looked up on first use and again after the setting changes (tests point it elsewhere)."""

    def _setup(self) -> None:
        self._wrapped: Any = storages["private"]


_private = _PrivateStorage()


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        _private._wrapped = empty


def private_storage() -> Storage:
    return cast(Storage, _private)


def original_path(document: Document, filename: str) -> str:
    return f"knowbase/{document.content_hash[:2]}/{document.content_hash}/{filename}"


class Document(models.Model):
    """One source: its original bytes, where it came from, and how its processing went.

    A document is known by its owner and source name (a file name, a path or a URL): sending the same source again
    updates it (only changed chunks are embedded again) instead of adding a duplicate."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="knowbase_documents",
        help_text="Empty: the project's own (ingested by a command); visible to staff, or to all when public",
    )
    title = models.CharField(max_length=300)
    title_is_automatic = models.BooleanField(
        default=True, help_text="Taken from the file (its first heading or metadata, else its name), not given"
    )
    source_name = models.CharField(max_length=1000, help_text="The file name, path or URL it came from")
    source_kind = models.CharField(
        max_length=10, choices=SourceKind.choices, blank=True, help_text="Decided by content; empty until fetched"
    )
    source_url = models.URLField(max_length=2000, blank=True)
    original = models.FileField(upload_to=original_path, storage=private_storage, max_length=500, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the original bytes")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True, help_text="Why the last processing failed")
    attempts = models.PositiveIntegerField(default=0)
    embedder = models.CharField(max_length=200, blank=True, help_text="The embedder of the stored chunks")
    page_count = models.PositiveIntegerField(null=True, blank=True)
    char_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    chunks_embedded = models.PositiveIntegerField(
        default=0, help_text="Chunks embedded by the last processing (the others were unchanged)"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    extraction_ms = models.PositiveIntegerField(null=True, blank=True)
    embedding_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "source_name"], nulls_distinct=False, name="knowbase_document_unique_source"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC


def search_vector() -> CombinedExpression:
    language = settings.KNOWBASE["TEXT_SEARCH_CONFIG"]
    return SearchVector(Coalesce("heading", models.Value("")), weight="A", config=language) + SearchVector(
        "text", weight="B", config=language
    )


class SearchVectorColumn(models.GeneratedField):
    """The chunk's tsvector, generated by PostgreSQL in the configured language (KNOWBASE__TEXT_SEARCH_CONFIG, read
    when the column is created): a migration records no language."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("expression", None)
        kwargs.pop("output_field", None)
        kwargs.pop("db_persist", None)
        super().__init__(expression=search_vector(), output_field=SearchVectorField(), db_persist=True, **kwargs)

    def check(self, **kwargs: Any) -> list[Any]:
        # GeneratedField's own checks ask each database server which generated columns it supports, so every
        # `manage.py check` would connect; PostgreSQL, the only database here, has stored ones.
        return super().check(**{**kwargs, "databases": []})

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key in ("expression", "output_field", "db_persist"):
            kwargs.pop(key, None)
        return name, path, args, kwargs


class Chunk(models.Model):
    """A passage of a document with its embedding and its keyword index.

    owner, is_public and category copy the document's, so that a filtered search reads one table."""

    # Indexed by the (document, position) constraint.
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    position = models.PositiveIntegerField()
    text = models.TextField()
    heading = models.CharField(max_length=1000, blank=True, help_text="The heading path, joined by ' > '")
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of what was embedded (title, heading, text)")
    embedding = EmbeddingField(null=True)
    search = SearchVectorColumn()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    is_public = models.BooleanField(default=False)
    category = models.ForeignKey(Category, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="knowbase_chunk_unique_position"),
        ]
        indexes = [
            GinIndex(fields=["search"], name="knowbase_chunk_search"),
            models.Index(fields=["owner"], name="knowbase_chunk_owner"),
            models.Index(fields=["category"], name="knowbase_chunk_category"),
            models.Index(fields=["is_public"], name="knowbase_chunk_public", condition=models.Q(is_public=True)),
        ]

    def __str__(self) -> str:
        return f"{self.document} #{self.position}"

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(self.heading.split(" > ")) if self.heading else ()
