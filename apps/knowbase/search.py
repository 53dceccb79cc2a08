"""Hybrid search over the chunks: the vector list (HNSW, cosine) and the full-text list (websearch_to_tsquery,
ts_rank_cd) fused by reciprocal rank fusion, in one SQL statement.

The vector list is `ORDER BY embedding <=> query LIMIT n`, the only shape pgvector's index serves. hnsw.ef_search
and hnsw.iterative_scan are set per query (set_config(..., is_local => true), i.e. SET LOCAL) so that a filtered
search keeps scanning the graph until it has its n hits instead of coming back short. Both lists see the same
access filter: a user's private chunks, public ones, or everything for staff."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import DataError, connection, transaction

from apps.knowbase import vector_store
from apps.knowbase.exceptions import EmbeddingDimensionMismatch
from apps.knowbase.health import dimension_problem
from modules.llm.providers import get_embedder

Mode = Literal["hybrid", "vector", "keyword"]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "keyword")
# A selective filter may need many graph visits: iterative scans stop after this many tuples (pgvector's default is
# 20,000); past it, PostgreSQL's planner prefers the B-tree indexes on owner, category and document anyway.
MAX_SCAN_TUPLES = 100_000
# websearch_to_tsquery joins plain words with AND: a question rarely holds every word of its answer. A query without
# search syntax (quotes, a leading minus) therefore matches ANY of its words, and ts_rank_cd ranks the chunks that
# hold more of them, closer together, first; a query with syntax keeps its exact meaning. A word that PostgreSQL's
# statistics (ANALYZE keeps the most common lexemes of a tsvector column) find in more than KEYWORD_WORD_MAX_ROWS
# chunks is left out of the any-word query: it tells chunks apart no better than the vector list does, and ranking
# every chunk that holds it would cost more than the whole search may.
SEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\w')
KEYWORD_WORD_MAX_ROWS = 1000
ALL_WORDS = "websearch_to_tsquery(%(language)s::regconfig, %(text)s)"
# The query's lexemes (stemmed, stop words out) but the frequent ones, joined by OR; NULL (no keyword list) when none
# is left.
ANY_RARE_WORD = """(
    SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery
    FROM unnest(tsvector_to_array(to_tsvector(%(language)s::regconfig, %(text)s))) AS lexeme
    WHERE lexeme <> ALL(%(frequent)s::text[])
)"""
# The lexemes that ANALYZE's statistics expect in more than `max_rows` chunks (the table's most common ones).
FREQUENT_LEXEMES = """
SELECT coalesce(array_agg(common.lexeme), '{}')
FROM pg_stats AS stats
JOIN pg_class AS chunks ON chunks.oid = 'knowbase_chunk'::regclass,
unnest(stats.most_common_elems::text::text[], stats.most_common_elem_freqs) AS common(lexeme, frequency)
WHERE stats.schemaname = current_schema() AND stats.tablename = 'knowbase_chunk' AND stats.attname = 'search'
  AND common.lexeme IS NOT NULL AND common.frequency * chunks.reltuples > %s
"""
# Read again after this long: autovacuum's ANALYZE refreshes the statistics as chunks come and go.
FREQUENT_LEXEMES_SECONDS = 300.0
_frequent_lexemes: dict[str, tuple[float, list[str]]] = {}
SET_LOCAL = (
    "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),"
    " set_config('hnsw.max_scan_tuples', %s, true)"
)

SQL = """
WITH vector_hits AS MATERIALIZED (
    SELECT id, embedding <=> %(vector)s::{column_type} AS distance
    FROM knowbase_chunk
    WHERE embedding IS NOT NULL{filters}
    ORDER BY embedding <=> %(vector)s::{column_type}
    LIMIT %(vector_candidates)s
),
vector_ranked AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM vector_hits
),
keyword_hits AS MATERIALIZED (
    SELECT id, ts_rank_cd(search, words.query, 32) AS score
    FROM knowbase_chunk, (SELECT {tsquery} AS query) AS words
    WHERE words.query IS NOT NULL AND search @@ words.query{filters}
    ORDER BY score DESC, id
    LIMIT %(keyword_candidates)s
),
keyword_ranked AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank FROM keyword_hits
),
fused AS (
    SELECT coalesce(v.id, k.id) AS id,
           1 - v.distance AS vector_score, k.score AS keyword_score, v.rank AS vector_rank, k.rank AS keyword_rank,
           coalesce(1.0 / (%(rrf_k)s + v.rank), 0) + coalesce(1.0 / (%(rrf_k)s + k.rank), 0) AS score
    FROM vector_ranked v FULL OUTER JOIN keyword_ranked k ON v.id = k.id
    ORDER BY score DESC, id
    LIMIT %(limit)s
)
SELECT f.id, f.vector_score, f.keyword_score, f.vector_rank, f.keyword_rank, f.score,
       c.document_id, d.title, c.position, c.text, c.heading, c.page, c.char_start, c.char_end,
       (SELECT count(*) FILTER (WHERE c.search @@ quote_literal(lexeme)::tsquery)::float / nullif(count(*), 0)
        FROM unnest(tsvector_to_array(to_tsvector(%(language)s::regconfig, %(text)s))) AS lexeme) AS coverage
FROM fused f
JOIN knowbase_chunk c ON c.id = f.id
JOIN knowbase_document d ON d.id = c.document_id
ORDER BY f.score DESC, f.id
"""


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    position: int
    text: str
    heading: str
    page: int | None
    char_start: int
    char_end: int
    vector_score: float | None
    keyword_score: float | None
    vector_rank: int | None
    keyword_rank: int | None
    score: float
    # The share of the query's words (stemmed, stop words out) that the chunk holds; None for a query without any.
    coverage: float | None = None


def chunk_search(
    *,
    user: Any,
    query: str,
    limit: int = 10,
    mode: Mode = "hybrid",
    document_ids: Sequence[int] = (),
    category_id: int | None = None,
    owner_id: int | None = None,
    ef_search: int | None = None,
    vector: Sequence[float] | None = None,
) -> list[Hit]:
    """The best `limit` chunks for `query` that `user` may see: their own and public ones; staff see all. Each hit
    carries its citation (document, page, heading, character span) and its vector, keyword and fused scores."""
    config = settings.KNOWBASE
    # NUL cannot go into a PostgreSQL query (the API refuses it; an agent's model may write one).
    query = query.replace("\x00", " ").strip()
    if not query or limit < 1:
        return []
    embedder = get_embedder()
    dimensions = vector_store.configured_dimensions()
    if embedder.dimensions != dimensions:
        raise EmbeddingDimensionMismatch()
    query_vector: Sequence[float] = ()
    if mode != "keyword":
        query_vector = vector if vector is not None else embedder.embed_query(query, purpose="search")
    # A query with no word the embedder keeps ("'", "the of") has a zero vector, whose cosine distance is undefined
    # (NaN): it gets no vector list, only the keyword one.
    use_vectors = any(query_vector)
    vector_text = _vector_text(query_vector) if use_vectors else "[" + ",".join(["1"] + ["0"] * (dimensions - 1)) + "]"
    candidates = max(config["CANDIDATES"], limit)
    filters, params = _filters(user, document_ids=document_ids, category_id=category_id, owner_id=owner_id)
    tsquery = ALL_WORDS if SEARCH_SYNTAX.search(query) else ANY_RARE_WORD
    sql = SQL.format(column_type=vector_store.column_type(dimensions), filters=filters, tsquery=tsquery)
    params |= {
        "vector": vector_text,
        "language": config["TEXT_SEARCH_CONFIG"],
        "text": query,
        "vector_candidates": candidates if use_vectors else 0,
        "keyword_candidates": 0 if mode == "vector" else candidates,
        "rrf_k": config["RRF_K"],
        "frequent": frequent_lexemes() if tsquery is ANY_RARE_WORD and mode != "vector" else [],
        "limit": limit,
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SET_LOCAL, [str(max(ef_search or config["EF_SEARCH"], candidates)), str(MAX_SCAN_TUPLES)])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except DataError as error:
        # Checked only when the query fails, so that a search costs no extra query: the stored column was made for
        # another dimension (the embedder changed and knowbase_reembed has not run).
        problem = dimension_problem()
        if problem:
            raise EmbeddingDimensionMismatch(problem) from error
        raise
    return [
        Hit(
            chunk_id=row[0],
            vector_score=None if row[1] is None else float(row[1]),
            keyword_score=None if row[2] is None else float(row[2]),
            vector_rank=row[3],
            keyword_rank=row[4],
            score=float(row[5]),
            document_id=row[6],
            document_title=row[7],
            position=row[8],
            text=row[9],
            heading=row[10],
            page=row[11],
            char_start=row[12],
            char_end=row[13],
            coverage=row[14],
        )
        for row in rows
    ]


def frequent_lexemes() -> list[str]:
    """The words too common to tell chunks apart (see KEYWORD_WORD_MAX_ROWS), read from PostgreSQL's statistics at
    most every FREQUENT_LEXEMES_SECONDS per process and database, so that a search does not plan the pg_stats view."""
    key = f"{connection.alias}:{connection.settings_dict['NAME']}:{KEYWORD_WORD_MAX_ROWS}"
    expires, lexemes = _frequent_lexemes.get(key, (0.0, []))
    if time.monotonic() < expires:
        return lexemes
    with connection.cursor() as cursor:
        cursor.execute(FREQUENT_LEXEMES, [KEYWORD_WORD_MAX_ROWS])
        row = cursor.fetchone()
    lexemes = list(row[0]) if row else []
    _frequent_lexemes[key] = (time.monotonic() + FREQUENT_LEXEMES_SECONDS, lexemes)
    return lexemes


def forget_frequent_lexemes() -> None:
    """Read the statistics again on the next search (tests, after an ANALYZE)."""
    _frequent_lexemes.clear()


def _vector_text(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in values) + "]"


def _filters(
    user: Any, *, document_ids: Sequence[int], category_id: int | None, owner_id: int | None
) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if not getattr(user, "is_staff", False):
        params["user_id"] = getattr(user, "pk", None)
        clauses.append("(is_public OR owner_id = %(user_id)s)" if params["user_id"] else "is_public")
    if document_ids:
        params["document_ids"] = list(document_ids)
        clauses.append("document_id = ANY(%(document_ids)s)")
    if category_id is not None:
        params["category_id"] = category_id
        clauses.append("category_id = %(category_id)s")
    if owner_id is not None:
        params["owner_id"] = owner_id
        clauses.append("owner_id = %(owner_id)s")
    return "".join(f" AND {clause}" for clause in clauses), params
