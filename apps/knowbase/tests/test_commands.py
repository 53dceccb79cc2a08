"""The knowbase commands: ingest, search, stats, reembed and evaluate.

knowbase_ingest's tests commit for real (transactional_db): a document is processed when its submission commits,
and the command reports what came of it. knowbase_reembed's tests change the embedding column's type; DDL is
transactional in PostgreSQL, so their rollback restores the column, and they change it back anyway.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection
from django.test import override_settings

from apps.knowbase import vector_store
from apps.knowbase.health import dimension_problem
from apps.knowbase.management.commands.knowbase_reembed import Command as ReembedCommand
from apps.knowbase.management.commands.knowbase_reembed import reembed_document
from apps.knowbase.models import Category, Chunk, Document, Status, Visibility
from apps.knowbase.search import chunk_search
from apps.knowbase.services import document_submit
from apps.knowbase.tests.pdfs import make_pdf
from modules.llm.providers import get_embedder

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _originals_in_tmp_path(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {**settings.STORAGES["private"], "OPTIONS": {"location": tmp_path / "private", "base_url": None}},
    }


def run(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    """The output and the error of a command that exits 1."""
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue(), str(raised.value)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "guide.md", "# Guide\n\nHow to install the heron service.\n")
    write(root / "notes" / "faq.txt", "Frequently asked: where do herons nest? In trees near water.\n")
    write(root / "logo.png", PNG)
    write(root / ".git" / "config.md", "# Not a document\n")
    write(root / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    return root


# --- knowbase_ingest ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ingest_adds_a_folder_recursively_and_skips_unsupported_and_hidden_files(folder: Path) -> None:
    output = run("knowbase_ingest", str(folder))

    assert "3 files: added 2, updated 0, unchanged 0, failed 0, skipped 1" in " ".join(output.split())
    assert "logo.png" in output and "PNG" in output
    documents = Document.objects.order_by("source_name")
    assert [(d.source_name, d.status, d.owner_id, d.visibility) for d in documents] == [
        ("guide.md", Status.READY, None, Visibility.PRIVATE),
        ("notes/faq.txt", Status.READY, None, Visibility.PRIVATE),
    ]
    assert Chunk.objects.filter(document__source_name="notes/faq.txt", text__contains="herons nest").exists()


@pytest.mark.django_db(transaction=True)
def test_ingesting_a_folder_again_updates_its_documents_instead_of_duplicating_them(folder: Path) -> None:
    run("knowbase_ingest", str(folder))
    ids = dict(Document.objects.values_list("source_name", "pk"))
    write(folder / "guide.md", "# Guide\n\nHow to install and upgrade the heron service.\n")

    output = run("knowbase_ingest", str(folder))

    assert "added 0, updated 1, unchanged 1, failed 0, skipped 1" in output
    assert dict(Document.objects.values_list("source_name", "pk")) == ids
    assert Chunk.objects.filter(document_id=ids["guide.md"], text__contains="upgrade").exists()


@pytest.mark.django_db(transaction=True)
def test_ingest_exits_1_and_lists_each_failed_file_with_its_reason(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "good.md", "# Good\n\nFine text.\n")
    write(tmp_path / "docs" / "broken.pdf", b"%PDF-1.4 garbage")
    write(tmp_path / "docs" / "empty.txt", b"")

    output, error = run_failing("knowbase_ingest", str(tmp_path / "docs"))

    assert error == "2 of 3 files failed (listed above)"
    assert "added 1" in output and "failed 2" in output
    flat = " ".join(output.split())
    assert "broken.pdf" in flat and "empty.txt" in flat
    broken = Document.objects.get(source_name="broken.pdf")
    assert broken.status == Status.FAILED and broken.error
    assert broken.error.split()[0] in flat
    assert Document.objects.get(source_name="good.md").status == Status.READY


@pytest.mark.django_db(transaction=True)
def test_an_unsupported_file_named_on_its_own_fails_rather_than_being_skipped(tmp_path: Path) -> None:
    output, error = run_failing("knowbase_ingest", str(write(tmp_path / "logo.png", PNG)))

    assert "failed 1" in output and "skipped 0" in output
    assert error == "1 of 1 files failed (listed above)"
    assert not Document.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ingest_places_documents_with_an_owner_visibility_category_and_title(tmp_path: Path) -> None:
    owner = get_user_model().objects.create_user(email="writer@example.com")
    category = Category.objects.create(name="Manuals", slug="manuals")
    path = write(tmp_path / "manual.md", "# Heading title\n\nPublic words.\n")

    run(
        "knowbase_ingest",
        str(path),
        "--owner",
        "Writer@Example.com",
        "--public",
        "--category",
        "manuals",
        "--title",
        "The manual",
    )

    document = Document.objects.get()
    assert (document.owner, document.visibility, document.category, document.title) == (
        owner,
        Visibility.PUBLIC,
        category,
        "The manual",
    )
    assert document.source_name == "manual.md"
    assert set(Chunk.objects.values_list("owner_id", "is_public", "category_id")) == {(owner.pk, True, category.pk)}


@pytest.mark.django_db(transaction=True)
def test_two_folders_with_the_same_relative_path_do_not_overwrite_each_other(tmp_path: Path) -> None:
    write(tmp_path / "a" / "index.md", "# A\n\nFirst.\n")
    write(tmp_path / "b" / "index.md", "# B\n\nSecond.\n")

    output, _ = run_failing("knowbase_ingest", str(tmp_path / "a"), str(tmp_path / "b"))

    assert "same source name" in " ".join(output.split())
    assert Document.objects.get().title == "A"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--owner", "nobody@example.com"], "no user with the email address 'nobody@example.com'"),
        (["--category", "nope"], "no category 'nope'"),
        (["--title", "One title"], "--title names one document"),
    ],
)
def test_ingest_refuses_bad_options_before_reading_anything(folder: Path, arguments: list[str], message: str) -> None:
    _, error = run_failing("knowbase_ingest", str(folder), *arguments)

    assert message in error
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_ingest_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    _, error = run_failing("knowbase_ingest", str(tmp_path / "missing"))

    assert error == f"{tmp_path / 'missing'} is neither a file nor a folder"


# --- knowbase_search ------------------------------------------------------------------------------------------------


@pytest.fixture
def heron_documents(db: Any, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    users = get_user_model().objects
    owner = users.create_user(email="owner@example.com")
    stranger = users.create_user(email="stranger@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        document_submit(
            owner=owner, data=b"# Private herons\n\nThe heron nests in tall trees.\n", source_name="private.md"
        )
        document_submit(
            owner=owner,
            data=make_pdf(["Herons of the river.", "The grey heron eats fish."], title="Public herons"),
            source_name="public.pdf",
            visibility=Visibility.PUBLIC,
        )
    return {"owner": owner, "stranger": stranger}


def test_search_prints_the_hits_with_scores_documents_and_places(heron_documents: dict[str, Any]) -> None:
    output = run("knowbase_search", "grey heron fish", "--limit", "5")

    assert "as staff (every document)" in output
    for column in ("fused", "vector", "keyword", "document", "page / heading", "excerpt"):
        assert column in output
    assert "Public herons" in output and "Private herons" in output
    assert "p. 2" in output
    assert "The grey heron eats fish." in output


def test_search_as_a_user_shows_what_that_user_may_see(heron_documents: dict[str, Any]) -> None:
    output = run("knowbase_search", "heron", "--as", "stranger@example.com", "--mode", "keyword")

    assert "Public herons" in output
    assert "Private herons" not in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["heron", "--as", "nobody@example.com"], "no user with the email address"),
        (["heron", "--limit", "0"], "--limit must be from 1 to 50"),
        (["   "], "the query is empty"),
    ],
)
def test_search_refuses_bad_arguments(heron_documents: dict[str, Any], arguments: list[str], message: str) -> None:
    _, error = run_failing("knowbase_search", *arguments)

    assert message in error


# --- knowbase_stats -------------------------------------------------------------------------------------------------


def test_stats_prints_counts_the_embedder_the_column_sizes_and_failures(
    heron_documents: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        document_submit(owner=None, data=b"%PDF-1.4 garbage", source_name="broken.pdf")
    broken = Document.objects.get(source_name="broken.pdf")

    output = " ".join(run("knowbase_stats").split())

    assert "Ready │ 2" in output and "Failed │ 1" in output and "all │ 3" in output
    chunks = Chunk.objects.count()
    assert f"chunks │ {chunks}" in output
    embedder = get_embedder()
    assert embedder.name in output and embedder.label in output
    assert f"stored column │ {vector_store.column_type()}" in output
    assert "HNSW index │ missing" not in output and "KiB" in output
    assert "Failed: 1" in output and "broken.pdf" in output and broken.error[:30] in output


def test_stats_warns_about_documents_embedded_by_another_embedder(heron_documents: dict[str, Any]) -> None:
    Document.objects.filter(source_name="private.md").update(embedder="another-model")

    output = " ".join(run("knowbase_stats").split())

    assert "1 by another-model" in output and "knowbase_reembed" in output


# --- knowbase_reembed -----------------------------------------------------------------------------------------------


def column_type() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'knowbase_chunk'::regclass "
            "AND attname = 'embedding'"
        )
        return str(cursor.fetchone()[0])


@pytest.fixture
def restored_column() -> Any:
    """Whatever a test does to the embedding column, it has its configured type again afterwards."""
    original = vector_store.stored_dimensions()
    with connection.cursor() as cursor:
        # The test's rows were written in its still open transaction, whose foreign key checks are deferred:
        # PostgreSQL refuses ALTER TABLE while they are pending (a command's own transaction has none).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    if vector_store.stored_dimensions() != original:
        vector_store.change_dimensions(original)  # type: ignore[arg-type]


def dimensions(size: int) -> Any:
    """The configuration of LLM__EMBEDDING_DIMENSIONS=size: the embedder's size and the column's."""
    return override_settings(
        LLM={**settings.LLM, "EMBEDDING_DIMENSIONS": size},
        KNOWBASE={**settings.KNOWBASE, "EMBEDDING_DIMENSIONS": size},
    )


def test_reembed_changes_the_dimension_and_embeds_every_chunk_again(
    heron_documents: dict[str, Any], restored_column: None
) -> None:
    chunks = Chunk.objects.count()
    with dimensions(256):
        assert "knowbase_reembed" in (dimension_problem() or "")
        with pytest.raises(SystemCheckError, match="knowbase_reembed"):
            call_command("check", "--database", "default", stdout=StringIO(), stderr=StringIO())

        assert ReembedCommand.requires_system_checks == []  # it runs while the check above fails
        output = " ".join(run("knowbase_reembed", "--yes", "--batch-size", "2").split())

        assert column_type() == "vector(256)"
        assert dimension_problem() is None
        assert f"Embedded {chunks} chunks of 2 documents with builtin-hashing-256" in output
        assert set(Document.objects.values_list("embedder", flat=True)) == {"builtin-hashing-256"}
        assert not Chunk.objects.filter(embedding__isnull=True).exists()
        assert {len(vector or ()) for vector in Chunk.objects.values_list("embedding", flat=True)} == {256}
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [vector_store.INDEX])
            assert "hnsw" in cursor.fetchone()[0]
        hits = chunk_search(user=AnonymousUser(), query="grey heron eats fish", limit=3, mode="vector")
        assert hits and hits[0].text == "The grey heron eats fish."
        assert hits[0].vector_score is not None and hits[0].vector_score > 0.5

        again = " ".join(run("knowbase_reembed").split())
        assert "Embedded 0 chunks of 0 documents" in again and "2 documents were already up to date" in again

    vector_store.change_dimensions(384)
    assert column_type() == "vector(384)"


def test_reembed_resumes_where_an_interrupted_run_stopped(
    heron_documents: dict[str, Any], restored_column: None
) -> None:
    with dimensions(128):
        vector_store.change_dimensions(128)
        first = Document.objects.get(source_name="private.md")
        reembed_document(first.pk, get_embedder(), batch_size=8)  # the run stopped after this document

        output = " ".join(run("knowbase_reembed").split())

        rest = Chunk.objects.exclude(document=first).count()
        assert f"Embedded {rest} chunks of 1 documents" in output and "1 documents were already up to date" in output
        assert not Chunk.objects.filter(embedding__isnull=True).exists()


def test_reembed_embeds_again_documents_of_another_embedder_and_all_with_all(heron_documents: dict[str, Any]) -> None:
    stale = Document.objects.get(source_name="public.pdf")
    Document.objects.filter(pk=stale.pk).update(embedder="another-model")
    Chunk.objects.filter(document=stale).update(embedding=[0.0] * 383 + [1.0])

    output = " ".join(run("knowbase_reembed").split())

    assert f"Embedded {stale.chunk_count} chunks of 1 documents" in output
    stale.refresh_from_db()
    assert stale.embedder == get_embedder().name
    hits = chunk_search(user=AnonymousUser(), query="grey heron eats fish", limit=1, mode="vector")
    assert hits[0].text == "The grey heron eats fish."

    everything = " ".join(run("knowbase_reembed", "--all").split())
    assert f"Embedded {Chunk.objects.count()} chunks of 2 documents" in everything


def test_reembed_does_not_change_the_column_without_a_confirmation(
    heron_documents: dict[str, Any], restored_column: None
) -> None:
    with dimensions(256):
        output, error = run_failing("knowbase_reembed")

    assert "empties the embeddings" in " ".join(output.split())
    assert "run again with --yes" in error
    assert column_type() == "vector(384)"


def test_reembed_refuses_an_embedder_whose_size_is_not_the_configured_one(heron_documents: dict[str, Any]) -> None:
    with override_settings(KNOWBASE={**settings.KNOWBASE, "EMBEDDING_DIMENSIONS": 256}):
        _, error = run_failing("knowbase_reembed", "--yes")

    assert "makes 384-dimension vectors but LLM__EMBEDDING_DIMENSIONS is 256" in error
    assert column_type() == "vector(384)"


# --- knowbase_evaluate ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_evaluate_prints_recall_and_mrr_per_mode_as_json() -> None:
    report = json.loads(run("knowbase_evaluate", "--json", "--k", "3"))

    assert report["embedder"]["name"] == get_embedder().name
    assert report["k"] == 3 and report["questions"] >= 40
    assert set(report["modes"]) == {"hybrid", "vector", "keyword"}
    for figures in report["modes"].values():
        assert 0 <= figures["recall_at_3"] <= 1 and 0 <= figures["mrr_at_10"] <= 1


@pytest.mark.django_db
def test_evaluate_prints_a_table_with_the_embedders_label() -> None:
    output = run("knowbase_evaluate", "--mode", "vector", "--misses")

    assert get_embedder().label in " ".join(output.split())
    assert "recall@5" in output and "MRR@10" in output
    assert "│ vector " in output and "│ hybrid " not in output and "│ keyword " not in output
    assert "vector: " in output and "not answered in the first 5" in output
