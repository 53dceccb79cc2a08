from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from cfg.models.base import ConfigModel

FieldType = Literal["str", "email", "int", "bool", "float", "decimal", "date", "datetime"]

# The Python type of each kind's value. "email" is text checked by a form field of its own
# (cfg.settings.constance.FORM_FIELDS): constance names such kinds by string, not by type.
FIELD_TYPES: dict[str, type] = {
    "str": str,
    "email": str,
    "int": int,
    "bool": bool,
    "float": float,
    "decimal": Decimal,
    "date": date,
    "datetime": datetime,
}

# A plausible address: the admin form checks it with Django's EmailField; cfg loads no Django.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# The live settings the project's code reads, and the kind it reads each as (modules/live_settings,
# apps/accounts). A mapping of fields given in YAML replaces the default as a whole, so it must keep them.
READ_BY_CODE: dict[str, FieldType] = {
    "MAINTENANCE_MODE": "bool",
    "MAINTENANCE_MESSAGE": "str",
    "SUPPORT_EMAIL": "email",
    "SIGNUPS_OPEN": "bool",
}


class ConstanceField(ConfigModel):
    """A live setting that staff can change in the admin without a deploy."""

    # `type` comes first so that the validator of `default` can see it.
    type: FieldType = "str"
    default: Any
    help_text: str = ""
    fieldset: str = "General"

    @field_validator("default")
    @classmethod
    def _default_matches_type(cls, default: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is None:  # `type` itself is invalid and reported on its own
            return default
        expected = FIELD_TYPES[kind]
        if not isinstance(default, expected) or (expected is int and isinstance(default, bool)):
            raise ValueError(
                f"{default!r} is not of type {kind}; give a default of type {kind} or change the field's type"
            )
        if kind == "email" and default and not EMAIL.fullmatch(str(default)):
            raise ValueError(f"{default!r} is not an email address; give an address such as help@example.com, or ''")
        return default


def _default_fields() -> dict[str, ConstanceField]:
    return {
        "MAINTENANCE_MODE": ConstanceField(
            default=False,
            help_text="Answer every request with 503 and the message below, except the admin, health checks and "
            "signed-in staff",
            type="bool",
            fieldset="Maintenance",
        ),
        "MAINTENANCE_MESSAGE": ConstanceField(
            default="We are doing some maintenance. Please try again in a few minutes.",
            help_text="What visitors and API clients are told while maintenance mode is on",
            type="str",
            fieldset="Maintenance",
        ),
        "SUPPORT_EMAIL": ConstanceField(
            default="",
            help_text="Shown in the footer of every email the site sends; empty: no support line",
            type="email",
            fieldset="General",
        ),
        "SIGNUPS_OPEN": ConstanceField(
            default=True,
            help_text="Whether an unknown email or phone may register by signing in (ACCOUNTS__SELF_REGISTRATION "
            "must allow it too); existing accounts sign in either way",
            type="bool",
            fieldset="Accounts",
        ),
    }


class ConstanceConfig(ConfigModel):
    fields: dict[str, ConstanceField] = Field(default_factory=_default_fields)
    """Live settings editable in the admin (YAML mapping of name to default/help_text/type/fieldset)"""

    @field_validator("fields")
    @classmethod
    def _keeps_what_the_code_reads(cls, fields: dict[str, ConstanceField]) -> dict[str, ConstanceField]:
        for name, kind in READ_BY_CODE.items():
            if name not in fields:
                raise ValueError(
                    f"{name} is missing, and the project's code reads it; add {name} (type {kind}) to the mapping: "
                    "a mapping given here replaces the default fields as a whole"
                )
            if fields[name].type != kind:
                raise ValueError(
                    f"{name} is of type {fields[name].type}, and the project's code reads it as {kind}; "
                    f"set the type of {name} to {kind}"
                )
        return fields
