from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from cfg.models.base import ConfigModel

FIELD_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": float,
    "decimal": Decimal,
    "date": date,
    "datetime": datetime,
}


class ConstanceField(ConfigModel):
    """A live setting that staff can change in the admin without a deploy."""

    # `type` comes first so that the validator of `default` can see it.
    type: Literal["str", "int", "bool", "float", "decimal", "date", "datetime"] = "str"
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
        return default


def _default_fields() -> dict[str, ConstanceField]:
    return {
        "MAINTENANCE_MESSAGE": ConstanceField(
            default="", help_text="Shown to users when not empty", type="str", fieldset="General"
        ),
        "SUPPORT_EMAIL": ConstanceField(
            default="support@example.com", help_text="Where users are told to write", type="str", fieldset="General"
        ),
        "SIGNUPS_OPEN": ConstanceField(
            default=True, help_text="Whether new users may register", type="bool", fieldset="Accounts"
        ),
    }


class ConstanceConfig(ConfigModel):
    fields: dict[str, ConstanceField] = Field(default_factory=_default_fields)
    """Live settings editable in the admin (YAML mapping of name to default/help_text/type/fieldset)"""
