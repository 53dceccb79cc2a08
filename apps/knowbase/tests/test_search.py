"""chunk_search: what it finds, for whom, with which scores and citations, and how PostgreSQL runs it.

Most tests use synthetic chunks: rows written with SQL, with random unit vectors from PostgreSQL's random() (seeded),
and `vector=` given to chunk_search, so that which chunk is near which query is decided by the test, not by an
embedder. Bulk loads drop the HNSW index first and build it after (inserting 10,000 rows into a live HNSW index
takes most of a minute; building it once, seconds); DDL is transactional, so the test's rollback restores it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction

from apps.knowbase import vector_store
from apps.knowbase.exceptions import EmbeddingDimensionMismatch
from apps.knowbase.models import Category, Chunk, Document, Status, Visibility
from apps.knowbase.processing import document_process
from apps.knowbase.search import MODES, Mode, chunk_search
from apps.knowbase.services import document_submit
from modules.llm.providers import get_embedder

DIMENSIONS = vector_store.configured_dimensions()

INSERT_SYNTHETIC = """
INSERT INTO knowbase_chunk
    (document_id, position, text, heading, page, char_start, char_end, token_count, content_hash, embedding,
     owner_id, is_public, category_id)
SELECT %(document)s, %(start)s + n, %(text)s || ' ' || n, %(heading)s, NULL, 0, 20, 4, md5(%(text)s || n),
       l2_normalize((SELECT array_agg(random() - 0.5) FROM generate_series(1, %(dimensions)s) WHERE n >= 0)::vector),
       %(owner)s, %(public)s, %(category)s
FROM generate_series(0, %(count)s - 1) AS n
"""


@pytest.fixture(autouse=True)
def _originals_in_tmp_path(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {**settings.STORAGES["private"], "OPTIONS": {"location": tmp_path / "private", "base_url": None}},
    }


def user(email: str, **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email, **fields)


def document(owner: Any = None, *, name: str, visibility: str = Visibility.PRIVATE, category: Any = None) -> Document:
    return Document.objects.create(
        owner=owner,
        title=name,
        source_name=name,
        visibility=visibility,
        category=category,
        status=Status.READY,
        embedder=get_embedder().name,
    )


def insert_chunks(
    doc: Document, count: int, *, start: int = 0, text: str = "synthetic filler", heading: str = ""
) -> None:
    """`count` chunks of `doc` with random unit vectors, copying its owner, visibility and category."""
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_SYNTHETIC,
            {
                "document": doc.pk,
                "start": start,
                "count": count,
                "text": text,
                "heading": heading,
                "dimensions": DIMENSIONS,
                "owner": doc.owner_id,
                "public": doc.is_public,
                "category": doc.category_id,
            },
        )


def chunk(doc: Document, position: int, text: str, embedding: list[float], heading: str = "") -> Chunk:
    return Chunk.objects.create(
        document=doc,
        position=position,
        text=text,
        heading=heading,
        char_start=0,
        char_end=len(text),
        token_count=len(text.split()),
        content_hash=f"{doc.pk}-{position}",
        embedding=embedding,
        owner_id=doc.owner_id,
        is_public=doc.is_public,
        category_id=doc.category_id,
    )


def unit_vector(seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [rng.gauss(0, 1) for _ in range(DIMENSIONS)]
    norm = math.sqrt(sum(value * value for value in values))
    return [value / norm for value in values]


def rebuild_index() -> None:
    """Build the HNSW index over what was loaded (see the module docstring), and refresh the planner's statistics."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # CREATE INDEX refuses to run with deferred FK checks pending
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(vector_store.drop_index_sql())
        cursor.execute(vector_store.create_index_sql())
        cursor.execute("ANALYZE knowbase_chunk")
        cursor.execute("SELECT setseed(0.5)")


@pytest.fixture
def seeded() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.25)")


# --- the query plan -------------------------------------------------------------------------------------------------


@pytest.fixture
def ten_thousand_chunks(db: Any, seeded: None) -> tuple[Any, Any]:
    """10,000 chunks: half public, owned by `owner`, and a few of a second user's. Returns (owner, other user)."""
    owner, other = user("owner@example.com"), user("other@example.com")
    with connection.cursor() as cursor:
        cursor.execute(vector_store.drop_index_sql())
    insert_chunks(document(owner, name="public.md", visibility=Visibility.PUBLIC), 5_000)
    insert_chunks(document(owner, name="private.md"), 4_950)
    insert_chunks(document(other, name="theirs.md"), 50)
    rebuild_index()
    return owner, other


class CapturedSearch:
    """The statements chunk_search runs: the set_config call, then the search."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.ef_search_seen: list[str] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        self.statements.append((sql, params))
        if "WITH vector_hits" in sql:
            context["cursor"].execute("SHOW hnsw.ef_search")
            self.ef_search_seen.append(context["cursor"].fetchone()[0])
        return execute(sql, params, many, context)

    @property
    def search(self) -> tuple[str, Any]:
        return next(statement for statement in self.statements if "WITH vector_hits" in statement[0])


@pytest.fixture
def captured() -> Iterator[CapturedSearch]:
    capture = CapturedSearch()
    with connection.execute_wrapper(capture):
        yield capture


def plan_of(sql: str, params: Any, *, ef_search: int = 100) -> dict[str, Any]:
    """The JSON plan of `sql`, with the settings chunk_search gives its transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            [str(ef_search)],
        )
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    parsed: list[dict[str, Any]] = json.loads(plan) if isinstance(plan, str) else plan
    root: dict[str, Any] = parsed[0]["Plan"]
    return root


def subplan(plan: dict[str, Any], name: str) -> dict[str, Any]:
    if plan.get("Subplan Name") == name:
        return plan
    for child in plan.get("Plans", []):
        found = subplan(child, name)
        if found:
            return found
    return {}


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def test_the_vector_list_is_read_from_the_hnsw_index_not_a_table_scan(
    ten_thousand_chunks: tuple[Any, Any], captured: CapturedSearch
) -> None:
    _owner, other = ten_thousand_chunks
    staff = user("staff@example.com", is_staff=True)

    for searcher in (staff, other):
        captured.statements.clear()
        hits = chunk_search(user=searcher, query="anything", limit=10, mode="hybrid", vector=unit_vector(1))

        assert len(hits) == 10
        sql, params = captured.search
        vector_plan = subplan(plan_of(sql, params), "CTE vector_hits")
        scans = [node for node in nodes(vector_plan) if node.get("Relation Name") == "knowbase_chunk"]
        assert [(node["Node Type"], node.get("Index Name")) for node in scans] == [
            ("Index Scan", vector_store.INDEX)
        ], json.dumps(vector_plan, indent=1)[:3000]
        if searcher is other:
            assert "owner_id" in scans[0]["Filter"] and "is_public" in scans[0]["Filter"]
            assert {hit.document_title for hit in hits} <= {"public.md", "theirs.md"}


# --- what a search finds --------------------------------------------------------------------------------------------


def test_hybrid_search_returns_keyword_only_and_vector_only_matches(db: Any, seeded: None) -> None:
    doc = document(name="mixed.md", visibility=Visibility.PUBLIC)
    insert_chunks(doc, 60, start=10)
    query_vector = unit_vector(7)
    chunk(doc, 0, "Unrelated words about gardening tools.", query_vector)
    chunk(doc, 1, "The aardvark digs burrows at night.", [-value for value in query_vector])
    rebuild_index()

    hits = chunk_search(user=AnonymousUser(), query="aardvark", limit=10, mode="hybrid", vector=query_vector)

    by_text = {hit.text: hit for hit in hits}
    vector_only = by_text["Unrelated words about gardening tools."]
    assert vector_only.keyword_score is None and vector_only.keyword_rank is None
    assert vector_only.vector_rank == 1 and vector_only.vector_score == pytest.approx(1.0, abs=1e-4)
    keyword_only = by_text["The aardvark digs burrows at night."]
    assert keyword_only.vector_score is None and keyword_only.vector_rank is None
    assert keyword_only.keyword_rank == 1 and (keyword_only.keyword_score or 0) > 0
    assert hits[0].score == pytest.approx(1 / 61) and hits[1].score == pytest.approx(1 / 61)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_keyword_hits_are_ranked_by_their_keyword_score(db: Any) -> None:
    doc = document(name="ranked.md", visibility=Visibility.PUBLIC)
    texts = ["The heron waits.", "Heron, heron, heron: the heron fishes where herons gather.", "A heron and a heron."]
    for position, text in enumerate(texts):
        chunk(doc, position, text, unit_vector(position))

    hits = chunk_search(user=AnonymousUser(), query="heron", limit=10, mode="keyword")

    assert [hit.keyword_rank for hit in hits] == [1, 2, 3]
    scores = [hit.keyword_score or 0.0 for hit in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert hits[0].text == texts[1]


@pytest.fixture
def ingested_guide(db: Any, django_capture_on_commit_callbacks: Any) -> tuple[Document, str]:
    text = (
        "# Operations guide\n\nHow the service is run.\n\n## Backups\n\nThe database is backed up every night "
        "with pg_dump, and a restore is tried every month.\n\n## Alerts\n\nAn alert pages the engineer on call "
        "when the error rate passes one percent.\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        submission = document_submit(owner=None, data=text.encode(), source_name="ops.md", visibility=Visibility.PUBLIC)
    submission.document.refresh_from_db()
    assert submission.document.status == Status.READY, submission.document.error
    return submission.document, text


@pytest.mark.parametrize("mode", MODES)
def test_every_hit_carries_its_citation_and_scores(ingested_guide: tuple[Document, str], mode: str) -> None:
    doc, text = ingested_guide

    hits = chunk_search(user=AnonymousUser(), query="backed up restore database", limit=5, mode=mode)  # type: ignore[arg-type]

    assert hits
    for hit in hits:
        assert (hit.document_id, hit.document_title) == (doc.pk, "Operations guide")
        assert hit.heading.startswith("Operations guide")
        assert hit.page is None
        assert 0 <= hit.char_start < hit.char_end <= len(text)
        assert text[hit.char_start : hit.char_end] == hit.text
        assert hit.score > 0
        assert hit.vector_score is not None or hit.keyword_score is not None
        if mode != "keyword":
            assert hit.vector_score is not None and hit.vector_rank is not None
        if mode == "vector":
            assert hit.keyword_score is None
    assert hits[0].heading == "Operations guide > Backups"


# --- who sees what --------------------------------------------------------------------------------------------------


@pytest.fixture
def zebras(db: Any) -> dict[str, Any]:
    owner, stranger, staff = (
        user("owner@example.com"),
        user("stranger@example.com"),
        user("s@example.com", is_staff=True),
    )
    embedder = get_embedder()
    private = document(owner, name="private.md")
    public = document(owner, name="public.md", visibility=Visibility.PUBLIC)
    own = document(None, name="project.md")
    for doc, text in (
        (private, "Private notes on zebra stripes."),
        (public, "Public notes on zebra herds."),
        (own, "The project's zebra crossing."),
    ):
        chunk(doc, 0, text, embedder.embed_query(text))
    return {"owner": owner, "stranger": stranger, "staff": staff, "anonymous": AnonymousUser()}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("viewer", "seen"),
    [
        ("stranger", {"public.md"}),
        ("anonymous", {"public.md"}),
        ("owner", {"private.md", "public.md"}),
        ("staff", {"private.md", "public.md", "project.md"}),
    ],
)
def test_a_private_document_is_found_by_its_owner_and_staff_only(
    zebras: dict[str, Any], viewer: str, seen: set[str], mode: str
) -> None:
    hits = chunk_search(user=zebras[viewer], query="zebra", limit=10, mode=mode)  # type: ignore[arg-type]

    assert {hit.document_title for hit in hits} == seen


# --- filters --------------------------------------------------------------------------------------------------------


@pytest.fixture
def selective(db: Any, seeded: None) -> dict[str, Any]:
    """3,000 public chunks, of which 30 belong to one owner, 30 to one category and 30 to one document."""
    owner, other = user("owner@example.com"), user("other@example.com")
    category = Category.objects.create(name="Rare", slug="rare")
    with connection.cursor() as cursor:
        cursor.execute(vector_store.drop_index_sql())
    insert_chunks(document(other, name="bulk-a.md", visibility=Visibility.PUBLIC), 1_450)
    insert_chunks(document(other, name="bulk-b.md", visibility=Visibility.PUBLIC), 1_460)
    owned = document(owner, name="owned.md", visibility=Visibility.PUBLIC)
    insert_chunks(owned, 30)
    insert_chunks(document(other, name="filed.md", visibility=Visibility.PUBLIC, category=category), 30)
    target = document(other, name="target.md", visibility=Visibility.PUBLIC)
    insert_chunks(target, 30)
    rebuild_index()
    return {"owner": owner, "category": category, "document": target, "viewer": user("viewer@example.com")}


@pytest.mark.parametrize("by", ["owner", "category", "document"])
def test_a_selective_filter_still_fills_the_result_list(selective: dict[str, Any], by: str) -> None:
    filters: dict[str, Any] = {
        "owner": {"owner_id": selective["owner"].pk},
        "category": {"category_id": selective["category"].pk},
        "document": {"document_ids": [selective["document"].pk]},
    }[by]

    modes: tuple[Mode, ...] = ("vector", "hybrid")
    for mode in modes:
        for limit in (20, 50):
            hits = chunk_search(
                user=selective["viewer"],
                query="no keyword matches this",
                limit=limit,
                mode=mode,
                vector=unit_vector(limit),
                **filters,
            )

            assert len(hits) == min(limit, 30), (mode, limit)
            rows = Chunk.objects.filter(pk__in=[hit.chunk_id for hit in hits])
            if by == "owner":
                assert set(rows.values_list("owner_id", flat=True)) == {selective["owner"].pk}
            elif by == "category":
                assert set(rows.values_list("category_id", flat=True)) == {selective["category"].pk}
            else:
                assert {hit.document_id for hit in hits} == {selective["document"].pk}


# --- odd queries ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["the of and", "?!", "... --- !!!", "to be or not to be", '""', "-"])
def test_a_keyword_search_of_only_stop_words_or_punctuation_finds_nothing(
    ingested_guide: tuple[Document, str], query: str
) -> None:
    assert chunk_search(user=AnonymousUser(), query=query, limit=5, mode="keyword") == []


@pytest.mark.parametrize("query", ["the of and", "?!"])
def test_a_hybrid_search_of_only_stop_words_or_punctuation_does_not_fail(
    ingested_guide: tuple[Document, str], query: str
) -> None:
    hits = chunk_search(user=AnonymousUser(), query=query, limit=5, mode="hybrid")

    assert all(hit.keyword_score is None for hit in hits)


def test_an_empty_query_finds_nothing_without_a_query_to_the_database(
    ingested_guide: tuple[Document, str], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        assert chunk_search(user=AnonymousUser(), query="   ", limit=5) == []


# --- ef_search ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "used"), [(None, "100"), (200, "200"), (400, "400"), (10, "40")])
def test_the_search_runs_with_the_ef_search_asked_for_but_never_below_the_candidates(
    ingested_guide: tuple[Document, str], captured: CapturedSearch, asked: int | None, used: str
) -> None:
    chunk_search(user=AnonymousUser(), query="backups", limit=5, ef_search=asked)

    assert captured.ef_search_seen == [used]


@pytest.mark.django_db(transaction=True)
def test_ef_search_does_not_outlive_the_search() -> None:
    doc = document(name="plain.md", visibility=Visibility.PUBLIC)
    chunk(doc, 0, "Plain words.", unit_vector(1))
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        default = cursor.fetchone()[0]

    chunk_search(user=AnonymousUser(), query="plain", limit=5, ef_search=321)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        assert cursor.fetchone()[0] == default == "40"
        cursor.execute("SHOW hnsw.iterative_scan")
        assert cursor.fetchone()[0] == "off"


# --- the embedder ---------------------------------------------------------------------------------------------------


def test_a_search_before_the_column_is_changed_to_a_new_dimension_says_knowbase_reembed_is_needed(
    ingested_guide: tuple[Document, str], settings: Any
) -> None:
    settings.LLM = {**settings.LLM, "EMBEDDING_DIMENSIONS": 256}
    settings.KNOWBASE = {**settings.KNOWBASE, "EMBEDDING_DIMENSIONS": 256}

    with pytest.raises(EmbeddingDimensionMismatch):
        chunk_search(user=AnonymousUser(), query="backups", limit=5)


def test_a_search_embeds_the_query_when_no_vector_is_given(ingested_guide: tuple[Document, str]) -> None:
    doc, _ = ingested_guide
    document_process(document_id=doc.pk, revision=doc.content_hash)  # processing again changes no vector

    hits = chunk_search(user=AnonymousUser(), query="alert pages the engineer on call", limit=1, mode="vector")

    assert hits[0].heading == "Operations guide > Alerts"
    assert hits[0].vector_score is not None and hits[0].vector_score > 0.3
