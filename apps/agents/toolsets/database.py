"""The database toolset: read-only queries over the models and fields of AGENTS__ORM_MODELS, and nothing else.

A model with an owner field shows a non-staff user only the rows that user owns; a model without one is readable by
staff only (a non-staff user is not even told it exists). Filters name allow-listed fields with a few lookups, never
a relation path, so no query reaches a field outside the allow-list."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError, ValidationError
from django.db import DataError
from django.db.models import Field, Model, QuerySet
from django.utils.duration import duration_iso_string
from pydantic import Field as ArgField
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.checks import concrete_field, is_user_key
from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec
from cfg.models.agents import SECRET_FIELD

LOOKUPS = frozenset({"exact", "iexact", "icontains", "gt", "gte", "lt", "lte", "in", "isnull"})
MAX_IN_VALUES = 100


@dataclass(frozen=True)
class Readable:
    """One allow-listed model as the run's user may read it."""

    label: str
    model: type[Model]
    fields: dict[str, Field[Any, Any]]
    owner_field: str


def readable_models(user: Any) -> dict[str, Readable]:
    """The allow-list as `user` may read it, by lower-case label. An entry whose model is not installed or whose owner
    field is not a foreign key to the user, and a listed name that is not a column or looks like a credential, are
    left out here (the system checks report them): the toolset reads less than configured, never more."""
    staff = bool(getattr(user, "is_staff", False))
    readable: dict[str, Readable] = {}
    for entry in settings.AGENTS["ORM_MODELS"]:
        owner_field = entry.get("OWNER_FIELD") or ""
        if not owner_field and not staff:
            continue
        try:
            model = apps.get_model(entry["MODEL"])
        except (LookupError, ValueError):
            continue
        fields: dict[str, Field[Any, Any]] = {}
        for name in entry["FIELDS"]:
            field = concrete_field(model, name)
            if field is not None and not SECRET_FIELD.search(name):
                fields[name] = field
        if owner_field and not is_user_key(model, owner_field):
            # Rows could not be scoped to their owner: the model is not read at all.
            continue
        if fields:
            readable[entry["MODEL"].lower()] = Readable(entry["MODEL"], model, fields, owner_field)
    return readable


def _readable(user: Any, label: str) -> Readable:
    readable = readable_models(user)
    found = readable.get(label.strip().lower())
    if found is None:
        known = ", ".join(sorted(item.label for item in readable.values())) or "none"
        raise ModelRetry(f"Unknown model {label!r}. The models you may read: {known} (see list_models).")
    return found


def _field_type(field: Field[Any, Any]) -> str:
    if field.is_relation and field.related_model is not None:
        return f"{field.get_internal_type()} to {field.related_model._meta.label} (its id)"
    return field.get_internal_type()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _lookup(readable: Readable, key: str, value: Any) -> tuple[str, Any]:
    name, separator, lookup = key.partition("__")
    lookup = lookup if separator else "exact"
    fields = ", ".join(readable.fields)
    if name not in readable.fields:
        raise ModelRetry(f"{readable.label} has no readable field {name!r}. Filter on: {fields}.")
    if lookup not in LOOKUPS:
        raise ModelRetry(
            f"{key!r}: {lookup!r} is not a lookup you may use (one of {', '.join(sorted(LOOKUPS))}); "
            "filters cannot follow relations to other models."
        )
    if lookup == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise ModelRetry(f"{key!r} takes a list of 1 to {MAX_IN_VALUES} values.")
        if not all(_is_scalar(item) and item is not None for item in value):
            raise ModelRetry(f"{key!r} takes a list of strings, numbers or booleans.")
    elif lookup == "isnull":
        if not isinstance(value, bool):
            raise ModelRetry(f"{key!r} takes true or false.")
    elif not _is_scalar(value) or (value is None and lookup != "exact"):
        raise ModelRetry(f"{key!r} takes a single string, number or boolean.")
    return f"{name}__{lookup}", value


def _queryset(user: Any, readable: Readable, filters: dict[str, Any]) -> QuerySet[Model]:
    queryset = readable.model._default_manager.all()
    if readable.owner_field and not getattr(user, "is_staff", False):
        queryset = queryset.filter(**{readable.owner_field: user})
    lookups = dict(_lookup(readable, key, value) for key, value in filters.items())
    try:
        # Django converts each value for its field here (an id that is not a number, a date that is not one).
        return queryset.filter(**lookups)
    except (FieldError, ValidationError, ValueError, TypeError) as error:
        raise ModelRetry(f"Invalid filter value: {_message(error)}") from error


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def _json(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return value


async def list_models(ctx: RunContext[AgentDeps]) -> dict[str, Any]:
    """List the database models you may read, with their fields and each field's type.

    Returns `models`, one entry per model: its label (to pass as `model`), its fields (name, type, allowed values
    when the field has a fixed set) and which rows you see ("own": only the user's own rows; "all": every row).
    """
    user = ctx.deps.user
    staff = bool(getattr(user, "is_staff", False))
    models = []
    for readable in readable_models(user).values():
        fields = []
        for name, field in readable.fields.items():
            described: dict[str, Any] = {"name": name, "type": _field_type(field)}
            if field.choices:
                described["choices"] = [_json(choice) for choice, _label in field.flatchoices]
            fields.append(described)
        rows = "own" if readable.owner_field and not staff else "all"
        models.append({"model": readable.label, "fields": fields, "rows": rows})
    # An object, not a bare list: an empty list would reach the model as an empty text (see search_documents).
    return {"models": models}


async def query_records(
    ctx: RunContext[AgentDeps],
    model: str,
    filters: Annotated[dict[str, Any], ArgField(default_factory=dict)],
    order_by: Annotated[list[str], ArgField(default_factory=list)],
    limit: int = 20,
) -> dict[str, Any]:
    """Read rows of one model (read-only), with only its readable fields.

    Returns the rows (each a dict of the readable fields; dates as ISO 8601 text, decimals as text), how many were
    returned, and `more`: true when further rows match than were returned.

    Args:
        model: The model's label from list_models, e.g. "knowbase.Document".
        filters: Field conditions that must all hold, as {"field": value} or {"field__lookup": value}. Lookups:
            exact (the default), iexact, icontains, gt, gte, lt, lte, in (a list), isnull (true or false). Only the
            model's readable fields; no paths through related models. Example:
            {"status": "ready", "title__icontains": "garden", "created_at__gte": "2025-01-01"}.
        order_by: Readable field names to sort by; a leading "-" sorts descending. Example: ["-created_at"].
        limit: The most rows to return (capped by the server).
    """
    user = ctx.deps.user
    readable = _readable(user, model)
    limit = min(max(limit, 1), int(settings.AGENTS["ORM_MAX_ROWS"]))
    for name in order_by:
        if name.removeprefix("-") not in readable.fields:
            raise ModelRetry(f"Cannot order by {name!r}: order by one of {', '.join(readable.fields)}.")
    queryset = _queryset(user, readable, filters)
    if order_by:
        queryset = queryset.order_by(*order_by)
    names = list(readable.fields)
    try:
        # One row more than asked tells whether there are more, without a count.
        rows = [
            {name: _json(value) for name, value in row.items()} async for row in queryset.values(*names)[: limit + 1]
        ]
    except DataError as error:
        raise ModelRetry(f"Invalid filter value: {error}") from error
    return {"model": readable.label, "rows": rows[:limit], "returned": min(len(rows), limit), "more": len(rows) > limit}


async def count_records(
    ctx: RunContext[AgentDeps],
    model: str,
    filters: Annotated[dict[str, Any], ArgField(default_factory=dict)],
) -> dict[str, Any]:
    """Count the rows of one model that match the filters (only the rows you may read).

    Args:
        model: The model's label from list_models, e.g. "knowbase.Document".
        filters: Field conditions, as for query_records: {"field": value} or {"field__lookup": value}.
    """
    user = ctx.deps.user
    readable = _readable(user, model)
    queryset = _queryset(user, readable, filters)
    try:
        count = await queryset.acount()
    except DataError as error:
        raise ModelRetry(f"Invalid filter value: {error}") from error
    return {"model": readable.label, "count": count}


def build() -> FunctionToolset[AgentDeps]:
    toolset = FunctionToolset[AgentDeps](id="database", docstring_format="google", require_parameter_descriptions=True)
    toolset.add_function(list_models)
    toolset.add_function(query_records)
    toolset.add_function(count_records)
    return toolset


SPEC = ToolsetSpec(
    name="database",
    label="Database (read-only)",
    description="Read and count rows of the allow-listed models and fields (AGENTS__ORM_MODELS); users see their "
    "own rows, staff see all.",
    build=build,
)
