"""Read queries of knowbase. Who may see a document: its owner, and staff; a public one, every signed-in user."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from apps.knowbase.models import Category, Chunk, Document, Visibility


def visible_to(user: Any) -> Q:
    if getattr(user, "is_staff", False):
        return Q()
    if not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    return Q(owner=user) | Q(visibility=Visibility.PUBLIC)


def document_list(
    *,
    user: Any,
    status: str | None = None,
    category_id: int | None = None,
    mine: bool = False,
    query: str | None = None,
) -> QuerySet[Document]:
    documents = Document.objects.filter(visible_to(user)).select_related("category", "owner")
    if mine:
        documents = documents.filter(owner=user)
    if status:
        documents = documents.filter(status=status)
    if category_id is not None:
        documents = documents.filter(category_id=category_id)
    if query:
        documents = documents.filter(title__icontains=query)
    return documents


def document_get(*, user: Any, document_id: int) -> Document | None:
    """The document, or None when it does not exist or the user may not see it (the API answers 404 to both, so
    that another user's private document is not even known to exist)."""
    return document_list(user=user).filter(pk=document_id).first()


def document_may_change(*, user: Any, document: Document) -> bool:
    """Changing, reprocessing and deleting: the owner and staff (a public document is read-only to others)."""
    return bool(getattr(user, "is_staff", False) or (document.owner_id and document.owner_id == user.pk))


def document_chunks(*, document: Document) -> QuerySet[Chunk]:
    return Chunk.objects.filter(document=document).only(
        "id", "document_id", "position", "text", "heading", "page", "char_start", "char_end", "token_count"
    )


def category_list() -> QuerySet[Category]:
    return Category.objects.all()
