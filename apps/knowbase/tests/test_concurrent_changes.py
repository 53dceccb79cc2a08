"""Changes that meet a running processing, and submissions that meet each other: nothing set by a person is undone,
nothing is duplicated, nothing is left behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apps.knowbase import url_fetch
from apps.knowbase.models import Chunk, Document, Status, Visibility
from apps.knowbase.processing import document_process
from apps.knowbase.search import chunk_search
from apps.knowbase.services import document_submit, document_submit_url, document_update
from apps.knowbase.tests.factories import GARDEN, category_create, user_create
from apps.knowbase.url_fetch import fetch_url
from modules.llm import providers
from modules.llm.conf import LlmSettings
from modules.llm.hashing import HashingEmbedder
from modules.local_http import json_server


class HookedEmbedder(HashingEmbedder):
    """The builtin embedder; `during_call` runs inside the next embedding call, as a request would meanwhile."""

    during_call: Callable[[], object] | None = None

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        hook, self.during_call = self.during_call, None
        if hook is not None:
            hook()
        return super().embed_documents(texts, purpose=purpose)


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[HookedEmbedder]:
    hooked = HookedEmbedder(LlmSettings.current().embedding_dimensions)
    monkeypatch.setattr(providers, "build_embedder", lambda config: hooked)
    providers.forget_providers()
    yield hooked
    monkeypatch.undo()
    providers.forget_providers()


@pytest.mark.django_db
def test_a_visibility_and_category_set_while_a_run_embeds_stay_set(embedder: HookedEmbedder) -> None:
    owner = user_create("ada@example.com")
    other = user_create("eve@example.com")
    category = category_create("Garden")
    submission = document_submit(owner=owner, data=GARDEN.encode(), source_name="garden.md", visibility="public")
    document = submission.document

    embedder.during_call = lambda: document_update(document=document, visibility=Visibility.PRIVATE, category=category)
    document_process(document_id=document.pk, revision=document.content_hash)

    document.refresh_from_db()
    assert (document.status, document.visibility, document.category) == (Status.READY, "private", category)
    assert set(Chunk.objects.filter(document=document).values_list("is_public", "category")) == {(False, category.pk)}
    assert chunk_search(user=other, query="tomatoes", limit=5) == []


@pytest.mark.django_db
def test_a_title_given_while_a_run_embeds_is_embedded_by_the_next_run(
    embedder: HookedEmbedder, django_capture_on_commit_callbacks: Any
) -> None:
    owner = user_create("ada@example.com")
    document = document_submit(owner=owner, data=GARDEN.encode(), source_name="garden.md").document
    queued: list[Any] = []

    def retitle() -> None:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            document_update(document=document, title="Allotment diary")
        queued.extend(callbacks)

    embedder.during_call = retitle
    assert document_process(document_id=document.pk, revision=document.content_hash) is None
    for callback in queued:  # the run the title change queued
        callback()

    document.refresh_from_db()
    assert (document.status, document.title) == (Status.READY, "Allotment diary")
    assert chunk_search(user=owner, query="allotment diary", limit=1, mode="vector")[0].document_title == (
        "Allotment diary"
    )


@pytest.mark.django_db(transaction=True)
def test_the_same_source_sent_at_once_by_many_requests_is_one_document(
    embedder: HookedEmbedder, tmp_path: Path
) -> None:
    owner = user_create("ada@example.com")
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def send() -> None:
        try:
            start.wait()
            outcomes.append(document_submit(owner=owner, data=GARDEN.encode(), source_name="same.md").outcome)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(outcomes) == ["created"] + ["unchanged"] * 7
    document = Document.objects.get(owner=owner, source_name="same.md")
    assert document.status == Status.READY
    assert Chunk.objects.filter(document=document).count() == document.chunk_count > 0
    stored = [path for path in (tmp_path / "private").rglob("*") if path.is_file()]
    assert [path.name for path in stored] == [Path(document.original.name or "").name]


@pytest.mark.django_db
def test_a_document_added_by_url_is_fetched_chunked_and_searchable(
    embedder: HookedEmbedder, settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    settings.KNOWBASE = {**settings.KNOWBASE, "URL_FETCH_ENABLED": True}
    page = "<html><head><title>Pond care</title></head><body><h1>Pond care</h1><p>Clear the duckweed weekly.</p>"

    def answer(path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        return 200, page  # served as JSON: a string, which is what detection and extraction then read

    owner = user_create("ada@example.com")
    with json_server(answer) as base_url:
        # The stand-in listens on loopback, which the fetch refuses: this test allows exactly its origin.
        monkeypatch.setattr(url_fetch, "fetch_url", partial(fetch_url, allow_private=True))
        with django_capture_on_commit_callbacks(execute=True):
            submission = document_submit_url(owner=owner, url=f"{base_url}/pond.html")
        first_hash = Document.objects.get(pk=submission.document.pk).content_hash
        with django_capture_on_commit_callbacks(execute=True):
            again = document_submit_url(owner=owner, url=f"{base_url}/pond.html")

    document = Document.objects.get(pk=submission.document.pk)
    assert (submission.outcome, again.outcome) == ("created", "updated")
    assert document.status == Status.READY, document.error
    assert document.content_hash == first_hash != ""
    assert document.original and document.chunk_count > 0
    assert document.chunks_embedded == 0  # fetched again, unchanged: nothing embedded twice
    assert chunk_search(user=owner, query="duckweed", limit=1)[0].document_id == document.pk


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["'", ":", "&", "|", "!", "<->", "(", ")", "\\", "!!!", "-", '"""', "the of and"])
def test_a_query_without_a_usable_word_searches_without_undefined_scores(embedder: HookedEmbedder, query: str) -> None:
    owner = user_create("ada@example.com")
    document_submit(owner=owner, data=GARDEN.encode(), source_name="garden.md")
    document_process(document_id=Document.objects.get().pk)

    for mode in ("hybrid", "vector", "keyword"):
        hits = chunk_search(user=owner, query=query, limit=5, mode=mode)
        assert all(hit.vector_score is None or hit.vector_score == hit.vector_score for hit in hits)
