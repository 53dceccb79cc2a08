from __future__ import annotations

import copy
from typing import Any

from unfold.contrib.constance.settings import UNFOLD_CONSTANCE_ADDITIONAL_FIELDS

from cfg.models.constance import FIELD_TYPES
from cfg.models.core import CoreConfig

# Kinds with a form field of their own, named by string in CONSTANCE_CONFIG; the others are named by their type.
FORM_FIELDS: dict[str, list[Any]] = {
    "email": [
        "django.forms.EmailField",
        {"widget": "unfold.widgets.UnfoldAdminEmailInputWidget", "required": False},
    ],
}


def constance_settings(config: CoreConfig) -> dict[str, Any]:
    fields = config.constance.fields
    fieldsets: dict[str, list[str]] = {}
    for name, field in fields.items():
        fieldsets.setdefault(field.fieldset, []).append(name)
    return {
        "CONSTANCE_BACKEND": "constance.backends.database.DatabaseBackend",
        # No CONSTANCE_DATABASE_CACHE_BACKEND: the code reads through modules.live_settings, which keeps a
        # per-process copy for every request and asks the database where a change must apply at once.
        "CONSTANCE_CONFIG": {
            name: (field.default, field.help_text, field.type if field.type in FORM_FIELDS else FIELD_TYPES[field.type])
            for name, field in fields.items()
        },
        "CONSTANCE_CONFIG_FIELDSETS": {title: tuple(names) for title, names in fieldsets.items()},
        # Unfold's widgets for the plain types (the form matches the rest of the admin), and the project's kinds.
        # A copy: constance replaces the widgets' dotted paths with instances in place when it reads them.
        "CONSTANCE_ADDITIONAL_FIELDS": copy.deepcopy({**UNFOLD_CONSTANCE_ADDITIONAL_FIELDS, **FORM_FIELDS}),
    }
