from __future__ import annotations

from typing import Any

from django.conf import settings


class AppDatabaseRouter:
    """Routes each app listed in DATABASE_APPS_MAPPING (app label -> alias) to its database."""

    def _alias(self, app_label: str) -> str | None:
        mapping: dict[str, str] = getattr(settings, "DATABASE_APPS_MAPPING", {})
        return mapping.get(app_label)

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self._alias(model._meta.app_label)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return self._alias(model._meta.app_label)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        first, second = self._alias(obj1._meta.app_label), self._alias(obj2._meta.app_label)
        if first is None and second is None:
            return None
        return (first or "default") == (second or "default")

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        alias = self._alias(app_label)
        if alias is not None:
            return db == alias
        mapping: dict[str, str] = getattr(settings, "DATABASE_APPS_MAPPING", {})
        if db != "default" and db in mapping.values():
            return False
        return None
