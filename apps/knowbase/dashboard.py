"""The knowbase app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py)."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.http import HttpRequest
from django.urls import reverse

from apps.knowbase.models import Document, Status
from modules.api.exceptions import ServiceError
from modules.llm.providers import get_embedder
from modules.unfold.dashboard import SHORTCUTS, Card, Link, Links, Stat


def document_counts() -> dict[str, int]:
    """Documents in all, ready and failed, and the chunks of the ready ones, in one query."""
    counts = Document.objects.aggregate(
        total=Count("pk"),
        ready=Count("pk", filter=Q(status=Status.READY)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        chunks=Sum("chunk_count", filter=Q(status=Status.READY), default=0),
    )
    return {name: int(value) for name, value in counts.items()}


def embedder_card() -> Stat:
    try:
        embedder = get_embedder()
    except ServiceError as error:  # a misconfigured provider costs this card, and says why
        return Stat(key="knowbase_embedder", title="Embedder", value="—", note=error.message, alert=True)
    return Stat(key="knowbase_embedder", title="Embedder", value=embedder.name, note=embedder.label)


def knowbase_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("knowbase.view_document"):
        return []
    documents = reverse("admin:knowbase_document_changelist")
    counts = document_counts()
    return [
        Stat(
            key="knowbase_documents",
            title="Documents ready",
            value=f"{counts['ready']} / {counts['total']}",
            note="Ready to search, of all documents",
            link=documents,
        ),
        Stat(key="knowbase_chunks", title="Chunks", value=counts["chunks"], note="Searchable passages"),
        Stat(
            key="knowbase_failed",
            title="Failed documents",
            value=counts["failed"],
            note="Processing failed: see the error, then reprocess",
            link=f"{documents}?status__exact={Status.FAILED}",
            alert=True,
        ),
        embedder_card(),
        Links(
            key=SHORTCUTS,
            title="Shortcuts",
            links=[
                Link(
                    title="Knowledge base search",
                    url=reverse("admin:knowbase_document_search"),
                    icon="search",
                    description="Hits with their vector, keyword and fused scores",
                )
            ],
        ),
    ]
