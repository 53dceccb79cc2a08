"""Readiness check for /readyz (the knowbase entry of the app catalog): the stored embedding column fits the
configured embedder."""

from __future__ import annotations

from apps.knowbase import vector_store
from apps.knowbase.exceptions import EmbeddingDimensionMismatch
from apps.knowbase.models import Document, Status
from modules.llm.providers import get_embedder


def dimension_problem() -> str | None:
    """What is wrong with the embedding column, or None. A table that does not exist yet (before migrate) is not
    this check's business: the migrations check reports it."""
    stored = vector_store.stored_dimensions()
    configured = vector_store.configured_dimensions()
    if stored is None or stored == configured:
        return None
    return (
        f"the knowbase stores {stored}-dimension embeddings but LLM__EMBEDDING_DIMENSIONS is {configured}: "
        "run `python manage.py knowbase_reembed` to re-embed every chunk (or set the dimension back)"
    )


def embedder_problem() -> str | None:
    """Ready documents embedded by another embedder than the configured one (same dimension, other model): their
    vectors and the queries' would not be comparable."""
    name = get_embedder().name
    ready = Document.objects.filter(status=Status.READY)
    others = sorted(ready.exclude(embedder=name).values_list("embedder", flat=True).distinct())
    if not others:
        return None
    return (
        f"some documents were embedded by {', '.join(others)} but the configured embedder is {name}: "
        "run `python manage.py knowbase_reembed`"
    )


def check_embedding_column() -> str:
    problem = dimension_problem() or embedder_problem()
    if problem:
        raise EmbeddingDimensionMismatch(problem)
    return f"{vector_store.column_type()} embeddings by {get_embedder().name}"
