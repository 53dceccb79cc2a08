"""Processing documents into chunks (services.document_submit and processing.document_process): headings and pages
on chunks, re-ingesting unchanged and changed documents, failures, retries and racing submissions.

The embedder is the builtin one, wrapped to count what it embeds: injected where modules.llm builds the embedder
(providers.build_embedder) and picked up by clearing the providers' cache. The database is the real one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.tasks.signals import task_enqueued

from apps.knowbase.models import Category, Chunk, Document, Status, Visibility
from apps.knowbase.processing import document_process
from apps.knowbase.services import Submission, document_reprocess, document_submit, document_update
from apps.knowbase.tasks import process_document
from apps.knowbase.tests.pdfs import make_pdf
from modules.llm import providers
from modules.llm.conf import LlmSettings
from modules.llm.exceptions import ProviderUnavailable
from modules.llm.hashing import HashingEmbedder

pytestmark = pytest.mark.django_db

PROCESS_TASK = process_document.module_path


class CountingEmbedder(HashingEmbedder):
    """The builtin embedder, counting its calls and the texts it embeds; `fail_with` makes the next call raise."""

    def __init__(self, dimensions: int) -> None:
        super().__init__(dimensions)
        self.calls = 0
        self.texts: list[str] = []
        self.fail_with: Exception | None = None
        self.during_call: Callable[[], object] | None = None

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        if self.during_call is not None:
            self.during_call()
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        return super().embed_documents(texts, purpose=purpose)

    def reset(self) -> None:
        self.calls = 0
        self.texts.clear()


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingEmbedder]:
    counting = CountingEmbedder(LlmSettings.current().embedding_dimensions)
    monkeypatch.setattr(providers, "build_embedder", lambda config: counting)
    providers.forget_providers()
    yield counting
    monkeypatch.undo()
    providers.forget_providers()


@pytest.fixture(autouse=True)
def _originals_in_tmp_path(settings: Any, tmp_path: Any) -> None:
    """Original files go to this test's own folder, not the data directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {**settings.STORAGES["private"], "OPTIONS": {"location": tmp_path / "private", "base_url": None}},
    }


@pytest.fixture
def owner() -> Any:
    return get_user_model().objects.create_user(email="owner@example.com")


@pytest.fixture
def enqueued() -> Iterator[list[str]]:
    """The module paths of the tasks enqueued during the test."""
    paths: list[str] = []

    def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
        paths.append(task_result.task.module_path)

    task_enqueued.connect(record, dispatch_uid="knowbase-test-enqueued")
    yield paths
    task_enqueued.disconnect(dispatch_uid="knowbase-test-enqueued")


def submit(capture: Any, *, owner: Any, data: bytes, name: str = "guide.md", **fields: Any) -> Submission:
    """document_submit as a request makes it: the task runs (inline) once the transaction commits. The submission's
    document is read again afterwards."""
    with capture(execute=True):
        submission = document_submit(owner=owner, data=data, source_name=name, **fields)
    submission.document.refresh_from_db()
    return submission


def section(title: str, topic: str, words: int = 60) -> str:
    body = " ".join(f"{topic}{index % 7} sentence part {index}." for index in range(words // 4))
    return f"## {title}\n\n{body}\n"


GUIDE = (
    "# Field guide\n\nAn introduction to the guide.\n\n"
    + section("Install", "install")
    + "\n"
    + section("Configure", "configure")
    + "\n### Secrets\n\nKeep the keys out of git, always.\n\n"
    + section("Operate", "operate")
)


def positions(document: Document) -> list[int]:
    return list(Chunk.objects.filter(document=document).order_by("position").values_list("position", flat=True))


def test_markdown_chunks_carry_their_heading_paths(embedder, owner, django_capture_on_commit_callbacks) -> None:
    submission = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())

    document = submission.document
    assert document.status == Status.READY, document.error
    assert document.source_kind == "markdown"
    assert document.title == "Field guide"
    headings = {chunk.heading: chunk for chunk in Chunk.objects.filter(document=document)}
    assert set(headings) == {
        "Field guide",
        "Field guide > Install",
        "Field guide > Configure",
        "Field guide > Configure > Secrets",
        "Field guide > Operate",
    }
    secrets = headings["Field guide > Configure > Secrets"]
    assert secrets.heading_path == ("Field guide", "Configure", "Secrets")
    assert secrets.text == "Keep the keys out of git, always."
    assert GUIDE[secrets.char_start : secrets.char_end] == secrets.text
    assert all(chunk.page is None for chunk in headings.values())


def test_pdf_chunks_carry_their_page_numbers(embedder, owner, django_capture_on_commit_callbacks) -> None:
    pages = ["The first page talks about apples and pears.", "", "The third page talks about plums.\nAnd cherries."]
    submission = submit(
        django_capture_on_commit_callbacks, owner=owner, data=make_pdf(pages, title="Fruit"), name="fruit.pdf"
    )

    document = submission.document
    assert document.status == Status.READY, document.error
    assert (document.source_kind, document.page_count, document.title) == ("pdf", 3, "Fruit")
    chunks = list(Chunk.objects.filter(document=document).order_by("position"))
    assert [chunk.page for chunk in chunks] == [1, 3]
    assert "apples" in chunks[0].text
    assert "plums" in chunks[1].text and "cherries" in chunks[1].text


def test_identical_bytes_again_change_nothing_and_embed_nothing(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    first = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    assert first.outcome == "created"
    assert enqueued == [PROCESS_TASK]
    assert embedder.calls == 1
    chunk_ids = set(Chunk.objects.filter(document=first.document).values_list("id", flat=True))
    embedder.reset()

    enqueued.clear()
    again = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())

    assert again.outcome == "unchanged"
    assert again.document.pk == first.document.pk
    assert enqueued == []
    assert embedder.calls == 0
    assert set(Chunk.objects.filter(document=first.document).values_list("id", flat=True)) == chunk_ids
    assert Document.objects.filter(owner=owner).count() == 1


def test_a_changed_paragraph_re_embeds_only_its_chunks(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    first = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    before = {chunk.heading: chunk.content_hash for chunk in Chunk.objects.filter(document=first.document)}
    embedder.reset()

    changed = GUIDE.replace("Keep the keys out of git, always.", "Keep the keys in a vault, never in git.")
    enqueued.clear()
    second = submit(django_capture_on_commit_callbacks, owner=owner, data=changed.encode())

    document = second.document
    assert (second.outcome, enqueued, document.status) == ("updated", [PROCESS_TASK], Status.READY)
    assert document.pk == first.document.pk
    assert document.chunks_embedded == 1
    assert embedder.calls == 1 and len(embedder.texts) == 1
    assert "vault" in embedder.texts[0]
    after = {chunk.heading: chunk.content_hash for chunk in Chunk.objects.filter(document=document)}
    assert {heading for heading in after if after[heading] != before.get(heading)} == {
        "Field guide > Configure > Secrets"
    }
    assert Chunk.objects.filter(document=document).count() == document.chunk_count == len(before)
    assert positions(document) == list(range(document.chunk_count))


def test_a_paragraph_added_in_the_middle_keeps_positions_contiguous_without_duplicates(
    embedder, owner, django_capture_on_commit_callbacks
) -> None:
    first = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    count = first.document.chunk_count
    embedder.reset()

    longer = GUIDE.replace("## Operate", section("Upgrade", "upgrade") + "\n## Operate")
    second = submit(django_capture_on_commit_callbacks, owner=owner, data=longer.encode())

    document = second.document
    assert document.chunk_count == count + 1
    assert document.chunks_embedded == 1
    assert positions(document) == list(range(count + 1))
    texts = list(Chunk.objects.filter(document=document).values_list("text", flat=True))
    assert len(texts) == len(set(texts))
    assert Chunk.objects.filter(document__owner=owner).count() == count + 1


def test_a_broken_pdf_fails_with_its_reason_and_the_fixed_file_makes_it_ready(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    broken = submit(django_capture_on_commit_callbacks, owner=owner, data=b"%PDF-1.4 garbage", name="report.pdf")

    document = broken.document
    assert document.source_kind == "pdf"
    assert document.status == Status.FAILED
    assert document.error
    assert document.chunk_count == 0 and not Chunk.objects.filter(document=document).exists()
    assert embedder.calls == 0

    enqueued.clear()
    fixed = submit(
        django_capture_on_commit_callbacks, owner=owner, data=make_pdf(["Quarterly figures."]), name="report.pdf"
    )

    assert (fixed.outcome, enqueued) == ("updated", [PROCESS_TASK])
    assert fixed.document.pk == document.pk
    assert fixed.document.status == Status.READY
    assert fixed.document.error == ""
    assert fixed.document.attempts == 2
    assert Document.objects.filter(owner=owner).count() == 1


def test_the_same_broken_bytes_again_are_processed_again_not_reported_unchanged(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    submit(django_capture_on_commit_callbacks, owner=owner, data=b"%PDF-1.4 garbage", name="report.pdf")

    enqueued.clear()

    again = submit(django_capture_on_commit_callbacks, owner=owner, data=b"%PDF-1.4 garbage", name="report.pdf")

    assert (again.outcome, enqueued) == ("updated", [PROCESS_TASK])
    assert again.document.status == Status.FAILED
    assert again.document.attempts == 2


def test_a_provider_outage_fails_the_document_and_reprocessing_makes_it_ready(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    embedder.fail_with = ProviderUnavailable("The embedding provider timed out.")
    submission = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    document = submission.document
    assert document.status == Status.FAILED
    assert document.error == (
        "The embedding provider timed out. A temporary failure: the worker's retries, or a reprocess, redo it."
    )

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        document_reprocess(document=document)
    document.refresh_from_db()

    assert enqueued == [PROCESS_TASK]
    assert document.status == Status.READY
    assert document.error == ""
    assert document.attempts == 2
    assert Chunk.objects.filter(document=document).count() == document.chunk_count > 0


def test_an_unexpected_error_fails_the_run_so_the_queue_retries_it(
    embedder, owner, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        document = document_submit(owner=owner, data=GUIDE.encode(), source_name="guide.md").document
    embedder.fail_with = RuntimeError("boom")

    with pytest.raises(RuntimeError):
        process_document.call(document.pk, document.content_hash)
    document.refresh_from_db()
    assert document.status == Status.FAILED
    assert "RuntimeError" in document.error

    assert process_document.call(document.pk, document.content_hash).startswith("ready")  # the retry
    document.refresh_from_db()
    assert (document.status, document.error, document.attempts) == (Status.READY, "", 2)


def test_a_run_for_an_older_revision_stores_nothing(embedder, owner, django_capture_on_commit_callbacks) -> None:
    first = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    old_revision = first.document.content_hash
    old_chunks = list(Chunk.objects.filter(document=first.document).values_list("id", "content_hash"))
    with django_capture_on_commit_callbacks(execute=False) as queued:  # the newer task waits in the queue
        newer = document_submit(owner=owner, data=GUIDE.replace("always", "ever").encode(), source_name="guide.md")
    embedder.reset()

    assert document_process(document_id=first.document.pk, revision=old_revision) is None

    document = Document.objects.get(pk=first.document.pk)
    assert document.status == Status.PENDING
    assert document.content_hash == newer.document.content_hash != old_revision
    assert list(Chunk.objects.filter(document=document).values_list("id", "content_hash")) == old_chunks
    assert embedder.calls == 0

    for callback in queued:  # the newer task runs
        callback()
    document.refresh_from_db()
    assert document.status == Status.READY
    assert Chunk.objects.filter(document=document, text__contains="git, ever").exists()


def test_a_submission_that_arrives_while_a_run_embeds_wins(embedder, owner, django_capture_on_commit_callbacks) -> None:
    first = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    old_chunks = list(Chunk.objects.filter(document=first.document).values_list("id", flat=True))
    changed = GUIDE.replace("always", "ever")

    def newer_submission_arrives() -> None:
        embedder.during_call = None
        with django_capture_on_commit_callbacks(execute=False):
            document_submit(owner=owner, data=(changed + "\nMore.\n").encode(), source_name="guide.md")

    embedder.during_call = newer_submission_arrives
    with django_capture_on_commit_callbacks(execute=False) as queued:
        submission = document_submit(owner=owner, data=changed.encode(), source_name="guide.md")
    for callback in queued:  # this run embeds; meanwhile the newer submission arrives
        callback()

    document = Document.objects.get(pk=submission.document.pk)
    assert document.status == Status.PENDING  # waiting for the newer run, which stores its own chunks
    assert list(Chunk.objects.filter(document=document).values_list("id", flat=True)) == old_chunks


def test_a_visibility_or_category_change_reaches_the_chunks(
    embedder, owner, enqueued, django_capture_on_commit_callbacks
) -> None:
    submission = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode())
    document = submission.document
    assert set(Chunk.objects.filter(document=document).values_list("is_public", flat=True)) == {False}
    embedder.reset()
    category = Category.objects.create(name="Handbooks", slug="handbooks")

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        document_update(document=document, visibility=Visibility.PUBLIC, category=category)

    assert enqueued == [] and embedder.calls == 0
    assert set(Chunk.objects.filter(document=document).values_list("is_public", "category_id")) == {(True, category.pk)}

    again = submit(django_capture_on_commit_callbacks, owner=owner, data=GUIDE.encode(), visibility=Visibility.PRIVATE)
    assert (again.outcome, enqueued) == ("unchanged", [])
    # The visibility given again applies; the category, not given, stays.
    assert set(Chunk.objects.filter(document=document).values_list("is_public", "category_id")) == (
        {(False, category.pk)}
    )
    assert set(Chunk.objects.filter(document=document).values_list("owner_id", flat=True)) == {owner.pk}
