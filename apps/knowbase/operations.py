"""Migration operations whose SQL comes from the configuration when they run (see vector_store)."""

from __future__ import annotations

from typing import Any

from django.db import router
from django.db.migrations.operations.base import Operation

from apps.knowbase import vector_store


class CreateEmbeddingIndex(Operation):
    """The HNSW index on the chunks' embeddings (cosine), with m and ef_construction from the config."""

    reversible = True

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The index is not part of the model state: knowbase_reembed rebuilds it for another dimension."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        # Only where the router puts knowbase's tables: migrating another alias records this migration only.
        if router.allow_migrate(schema_editor.connection.alias, app_label):
            schema_editor.execute(vector_store.create_index_sql())

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if router.allow_migrate(schema_editor.connection.alias, app_label):
            schema_editor.execute(vector_store.drop_index_sql())

    def describe(self) -> str:
        return "Create the HNSW index on knowbase_chunk.embedding"
