"""The embedding column and its HNSW index, shaped by the configuration when they are created (migrate,
knowbase_reembed), never at process start.

Up to 2,000 dimensions the column is `vector(N)`; above, up to 4,000, `halfvec(N)` (pgvector's HNSW indexes at
most 2,000 dimensions of `vector` and 4,000 of `halfvec`). The config refuses more at start-up."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "knowbase_chunk"
COLUMN = "embedding"
INDEX = "knowbase_chunk_embedding_hnsw"
VECTOR_MAX_DIMENSIONS = 2000


def configured_dimensions() -> int:
    return int(settings.KNOWBASE["EMBEDDING_DIMENSIONS"])


def vector_type(dimensions: int | None = None) -> str:
    """`vector` or `halfvec`, by the number of dimensions."""
    dimensions = configured_dimensions() if dimensions is None else dimensions
    return "vector" if dimensions <= VECTOR_MAX_DIMENSIONS else "halfvec"


def column_type(dimensions: int | None = None) -> str:
    dimensions = configured_dimensions() if dimensions is None else dimensions
    return f"{vector_type(dimensions)}({dimensions})"


def create_index_sql(dimensions: int | None = None) -> str:
    opclass = f"{vector_type(dimensions)}_cosine_ops"
    m, ef_construction = settings.KNOWBASE["HNSW_M"], settings.KNOWBASE["HNSW_EF_CONSTRUCTION"]
    return (
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON {TABLE} USING hnsw ({COLUMN} {opclass}) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )


def drop_index_sql() -> str:
    return f"DROP INDEX IF EXISTS {INDEX}"


def stored_dimensions(using: BaseDatabaseWrapper = connection) -> int | None:
    """The dimension of the column in the database, or None when the table does not exist yet."""
    with using.cursor() as cursor:
        cursor.execute(
            "SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = %s AND a.attname = %s AND NOT a.attisdropped AND pg_table_is_visible(c.oid)",
            [TABLE, COLUMN],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def change_dimensions(dimensions: int, using: BaseDatabaseWrapper = connection) -> None:
    """Drop the index, empty and retype the column, and build the index again (knowbase_reembed re-fills it)."""
    with using.cursor() as cursor:
        cursor.execute(drop_index_sql())
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} TYPE {column_type(dimensions)} USING NULL")
        cursor.execute(create_index_sql(dimensions))
