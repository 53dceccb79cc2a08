"""The embedding column: its type comes from the configuration when the column is created, so a migration never
records a dimension (knowbase_reembed changes it in place)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from pgvector import Vector

from apps.knowbase import vector_store


class EmbeddingField(models.Field):  # type: ignore[type-arg]
    description = "An embedding: pgvector's vector(N), or halfvec(N) above 2,000 dimensions"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return vector_store.column_type()

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> list[float] | None:
        if value is None:
            return None
        return [float(item) for item in str(value).strip("[]").split(",")]

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return Vector([float(item) for item in value]).to_text()
