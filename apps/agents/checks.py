"""System checks of the agents app's allow-lists: what the database toolset may read (AGENTS__ORM_MODELS) and which
tasks the tasks toolset may start (AGENTS__ALLOWED_TASKS). The toolsets leave out what does not check out; these
checks say so when the server starts, with the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, Model
from django.tasks import Task
from django.utils.module_loading import import_string

from cfg.models.agents import SECRET_FIELD

ORM_MODELS = "AGENTS__ORM_MODELS"
ALLOWED_TASKS = "AGENTS__ALLOWED_TASKS"


@register("agents")
def check_orm_models(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for entry in settings.AGENTS["ORM_MODELS"]:
        label = entry.get("MODEL", "")
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(
                Error(
                    f"{ORM_MODELS} names {label!r}, which is not an installed model.",
                    hint=f"Use app_label.ModelName of an installed app's model, or remove the entry from {ORM_MODELS}.",
                    id="agents.E001",
                )
            )
            continue
        user_model = model is get_user_model()
        for name in entry.get("FIELDS", ()):
            if SECRET_FIELD.search(name):
                where = "the user model" if user_model else label
                errors.append(
                    Error(
                        f"{ORM_MODELS} lists {name!r} of {where}, which looks like a credential.",
                        hint=f"Remove {name!r} from the entry's fields in {ORM_MODELS}: agents never read "
                        "passwords, tokens or secrets.",
                        id="agents.E002",
                    )
                )
            elif concrete_field(model, name) is None:
                errors.append(
                    Error(
                        f"{ORM_MODELS} lists {name!r} for {label}, which is not one of its concrete fields.",
                        hint=f"Name fields stored on {label}'s table (a foreign key by its name, no reverse or "
                        f"many-to-many relations, no properties) in {ORM_MODELS}.",
                        id="agents.E003",
                    )
                )
        owner_field = entry.get("OWNER_FIELD") or ""
        if owner_field and not is_user_key(model, owner_field):
            errors.append(
                Error(
                    f"{ORM_MODELS} gives {owner_field!r} as the owner field of {label}, which is not a foreign key "
                    f"to {settings.AUTH_USER_MODEL}.",
                    hint=f"Set owner_field to {label}'s foreign key to the user model, or leave it empty in "
                    f"{ORM_MODELS} to make the model readable by staff only.",
                    id="agents.E004",
                )
            )
    return errors


@register("agents")
def check_allowed_tasks(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for path in settings.AGENTS["ALLOWED_TASKS"]:
        try:
            task = import_string(path)
        except Exception as error:  # a module that fails to import in any way is reported, never raised
            errors.append(
                Error(
                    f"{ALLOWED_TASKS} names {path!r}, which cannot be imported ({error}).",
                    hint=f"Give the module.function path of a @task function, or remove it from {ALLOWED_TASKS}.",
                    id="agents.E005",
                )
            )
            continue
        if not isinstance(task, Task):
            errors.append(
                Error(
                    f"{ALLOWED_TASKS} names {path!r}, which is not a task.",
                    hint=f"Decorate the function with django.tasks' @task, or remove it from {ALLOWED_TASKS}.",
                    id="agents.E006",
                )
            )
    return errors


def concrete_field(model: type[Model], name: str) -> Field[Any, Any] | None:
    """The model's own column called `name` (a foreign key included), or None: no reverse relation, no many-to-many,
    no property, nothing that is not stored on the row. The database toolset reads by the same rule."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not isinstance(field, Field) or not field.concrete or field.many_to_many:
        return None
    return field


def is_user_key(model: type[Model], name: str) -> bool:
    """Whether `name` is the model's foreign key (or one-to-one) to the user model: a valid owner field."""
    field = concrete_field(model, name)
    return field is not None and bool(field.many_to_one or field.one_to_one) and field.related_model is get_user_model()
