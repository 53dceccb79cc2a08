"""Read-only views of a config for the core commands: masked dumps and the env-var reference."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr

from cfg.loading import env_var_name

MASK = "********"


def masked_dump(model: BaseModel) -> dict[str, Any]:
    """The config as plain data with every secret masked (secret fields and credentials in URLs)."""
    return {
        name: _masked(getattr(model, name)) for name, field in type(model).model_fields.items() if not field.exclude
    }


def _masked(value: Any) -> Any:
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
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':' + MASK if colon else ''}{at}{host}"


def env_var_reference(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(ENV_VAR, default, description) for every field, nested models flattened with `__`."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = (*prefix, name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(env_var_reference(annotation, path))
            continue
        default = field.get_default(call_default_factory=True)
        rows.append((env_var_name(path), _default_text(default), _description(model, name)))
    return rows


def _description(model: type[BaseModel], name: str) -> str:
    """A subclass that only changes a default (ProjectConfig.project_name) keeps the base's description."""
    for cls in model.__mro__:
        fields = getattr(cls, "model_fields", {})
        if name in fields and fields[name].description:
            return str(fields[name].description)
    return ""


def _default_text(default: Any) -> str:
    if isinstance(default, SecretStr):
        return "(empty)" if not default.get_secret_value() else MASK
    if default is None or default == "":
        return "(empty)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (list, tuple)):
        return ",".join(str(item) for item in default) or "(empty)"
    if isinstance(default, dict):
        return "(see docs)" if default else "(empty)"
    if hasattr(default, "value"):
        return str(default.value)
    return str(default)
