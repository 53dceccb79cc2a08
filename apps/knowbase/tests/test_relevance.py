"""What counts as relevant: words that tell chunks apart, answers only from passages that hold enough of the
question, and vectors compared only with vectors of the same embedder."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from apps.knowbase import search
from apps.knowbase.answers import answer_question
from apps.knowbase.exceptions import EmbeddingDimensionMismatch
from apps.knowbase.health import check_embedding_column
from apps.knowbase.models import Document
from apps.knowbase.processing import document_process
from apps.knowbase.search import chunk_search
from apps.knowbase.services import document_submit
from apps.knowbase.tests.factories import GARDEN, KETTLE, document_create, user_create

pytestmark = pytest.mark.django_db


def test_a_question_sharing_one_word_with_the_documents_gets_no_answer() -> None:
    owner = user_create()
    document_create(owner=owner, text=GARDEN)
    document_create(owner=owner, text=KETTLE)

    unrelated = answer_question(user=owner, question="What is the best water for a chocolate cake recipe?")
    related = answer_question(user=owner, question="How often should the kettle be descaled?")

    assert (unrelated.mode, unrelated.citations) == ("no_answer", ())
    assert related.mode == "extractive" and related.citations[0].excerpt


def test_a_word_that_most_chunks_hold_is_left_out_of_the_keyword_list(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = user_create()
    for number in range(12):
        document_create(owner=owner, text=f"# Note {number}\n\nThe garden shed holds tool number {number}.\n")
    tomatoes = document_create(owner=owner, text=GARDEN)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowbase_chunk")  # the statistics the keyword query reads
    monkeypatch.setattr(search, "KEYWORD_WORD_MAX_ROWS", 5)  # "garden" is in 13 chunks, "tomato" in one

    hits = chunk_search(user=owner, query="garden tomatoes", limit=10, mode="keyword")

    assert {hit.document_id for hit in hits} == {tomatoes.pk}
    assert chunk_search(user=owner, query="garden", limit=10, mode="keyword") == []
    exact = chunk_search(user=owner, query='"garden shed"', limit=20, mode="keyword")
    assert len(exact) == 12  # search syntax keeps its exact meaning, frequent words included


def test_documents_of_another_embedder_of_the_same_size_are_not_ready_and_not_unchanged(settings: Any) -> None:
    owner = user_create()
    document = document_create(owner=owner, text=GARDEN, source_name="garden.md")
    Document.objects.filter(pk=document.pk).update(embedder="openai:text-embedding-3-small")

    with pytest.raises(EmbeddingDimensionMismatch, match="knowbase_reembed"):
        check_embedding_column()
    again = document_submit(owner=owner, data=GARDEN.encode(), source_name="garden.md")
    assert again.outcome == "updated"  # the same bytes, embedded again by the configured embedder

    document_process(document_id=document.pk)
    assert "builtin-hashing-384" in check_embedding_column()
