from __future__ import annotations

from typing import Any

from cfg.models.constance import FIELD_TYPES
from cfg.models.core import CoreConfig


def constance_settings(config: CoreConfig) -> dict[str, Any]:
    fields = config.constance.fields
    fieldsets: dict[str, list[str]] = {}
    for name, field in fields.items():
        fieldsets.setdefault(field.fieldset, []).append(name)
    return {
        "CONSTANCE_BACKEND": "constance.backends.database.DatabaseBackend",
        "CONSTANCE_CONFIG": {
            name: (field.default, field.help_text, FIELD_TYPES[field.type]) for name, field in fields.items()
        },
        "CONSTANCE_CONFIG_FIELDSETS": {title: tuple(names) for title, names in fieldsets.items()},
    }
