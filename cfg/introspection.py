"""Read-only views of a config for the core commands: masked dumps and the env-var reference."""

from __future__ import annotations

import inspect
import json
from enum import Enum
from typing import Any, NamedTuple

from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python

from cfg.loading import env_var_name
from cfg.models.base import attribute_docstrings

MASK = "********"


def masked_dump(model: BaseModel) -> dict[str, Any]:
    """The config as plain data with every secret masked (secret fields and credentials in URLs)."""
    return {
        name: _masked(getattr(model, name)) for name, field in type(model).model_fields.items() if not field.exclude
    }


def _masked(value: Any) -> Any:
    # A str enum would pass the text checks below and print as its repr (<Environment.TEST: 'test'>).
    if isinstance(value, Enum):
        return _masked(value.value)
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        return masked_dump(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(item) for item in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return mask_url_password(value)
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):
        return value.value
    if not isinstance(value, (int, float, str, bool, type(None))):
        return str(value)
    return value


def mask_url_password(url: str) -> str:
    """The URL with the password of its credentials replaced by the mask: the one masker of the project."""
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':' + MASK if colon else ''}{at}{host}"


class EnvVar(NamedTuple):
    name: str
    default: str
    per_environment: str
    description: str


def env_var_reference(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[EnvVar]:
    """Every field as an environment variable, nested models flattened with `__`: its field default, the smart
    defaults that replace it per environment, and its description.

    A default that a subclass sets (ProjectConfig's project_name and project_slug) is shown as where it is set,
    not its value: the README embeds this table, and a renamed project's README must stay byte-identical to
    upstream's, or every upstream change to the table would conflict in a `git merge`."""
    rows: list[EnvVar] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = (*prefix, name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(env_var_reference(annotation, path))
            continue
        declared_in = [cls for cls in model.__mro__ if name in inspect.get_annotations(cls)]
        if len(declared_in) > 1 and declared_in[0] is model:
            default_text = f"(set in {declared_in[0].__module__.replace('.', '/')}.py)"
        else:
            default_text = _default_text(field.get_default(call_default_factory=True))
        rows.append(EnvVar(env_var_name(path), default_text, _per_environment(path), _description(model, name)))
    return rows


def mapping_defaults(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields whose default is a non-empty mapping (too big for a table cell), nested as in YAML."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if inner := mapping_defaults(annotation, (*prefix, name)):
                found[name] = inner
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, dict) and default:
            found[name] = _plain(default)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _per_environment(path: tuple[str, ...]) -> str:
    """'development: `true` · test, staging, production: `false`' for the environments whose smart defaults set the
    field (cfg.defaults); empty when none does."""
    from cfg.defaults import SMART_DEFAULTS

    by_text: dict[str, list[str]] = {}
    for environment, defaults in SMART_DEFAULTS.items():
        value: Any = defaults
        for part in path:
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            text = "a fixed dev-only key" if path == ("secret_key",) else f"`{_default_text(value)}`"
            by_text.setdefault(text, []).append(environment.value)
    return " · ".join(f"{', '.join(names)}: {text}" for text, names in by_text.items())


def _description(model: type[BaseModel], name: str) -> str:
    """A subclass that only changes a default (ProjectConfig.project_name) keeps the base's description."""
    for cls in model.__mro__:
        fields = getattr(cls, "model_fields", {})
        if name in fields and (description := fields[name].description or attribute_docstrings(cls).get(name)):
            return str(description)
    return ""


def _default_text(default: Any) -> str:
    if isinstance(default, SecretStr):
        return "(empty)" if not default.get_secret_value() else MASK
    if default is None or default == "":
        return "(empty)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (list, tuple)):
        if any(isinstance(item, BaseModel) for item in default):
            # A list of objects (AGENTS__ORM_MODELS) is set as JSON, so it is shown as JSON.
            return json.dumps([to_jsonable_python(item) for item in default], separators=(",", ":"))
        return ",".join(str(item) for item in default) or "(empty)"
    if isinstance(default, dict):
        return "(below the table)" if default else "(empty)"
    if hasattr(default, "value"):
        return str(default.value)
    return str(default)
