"""Shared pieces of the typed config models."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, NoReturn, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator


class FrozenDict(dict[Any, Any]):
    """A dict that refuses changes: a config mapping cannot be edited after validation."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the configuration is immutable; change the environment or YAML instead")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[dict[Any, Any]], tuple[dict[Any, Any]]]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self


def deep_freeze(value: Any) -> Any:
    """Lists become tuples and dicts FrozenDicts, all the way down (config models are frozen already)."""
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({key: deep_freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(item) for item in value)
    return value


class ConfigModel(BaseModel):
    """Every config model is immutable, all the way down, and refuses unknown keys (a typo is an error)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, use_attribute_docstrings=True)

    @model_validator(mode="after")
    def _freeze_containers(self) -> Self:
        for name in type(self).model_fields:
            value = getattr(self, name)
            frozen = deep_freeze(value)
            if frozen is not value:
                object.__setattr__(self, name, frozen)
        return self


def split_commas(value: Any) -> Any:
    """Environment variables carry lists as "a,b,c" or as a JSON array."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(
                    f'{text!r} is neither a JSON list nor a comma-separated list; write a,b,c or ["a", "b", "c"]'
                ) from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


CommaList = Annotated[tuple[str, ...], BeforeValidator(split_commas)]

_RATE = re.compile(r"^\d+/(second|sec|s|minute|min|m|hour|h|day|d)$")


def check_rate(value: str | None) -> str | None:
    if value is not None and not _RATE.match(value):
        raise ValueError(
            f"{value!r} is not a throttle rate; use a number and a period such as '100/hour' or '10/minute'"
        )
    return value


Rate = Annotated[str | None, AfterValidator(check_rate)]


def check_postgres_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql", "pgvector"):
        raise ValueError(
            f"scheme {parts.scheme or '(none)'!r} is not PostgreSQL; this project runs on PostgreSQL only: "
            "use postgres://user:password@host:5432/name"
        )
    if not parts.path.strip("/"):
        raise ValueError("the URL names no database; add it after the host, as in postgres://user@host:5432/name")
    return value


PostgresUrl = Annotated[str, AfterValidator(check_postgres_url)]


def check_redis_url(value: str | None) -> str | None:
    # The value is not echoed: a Redis URL may carry a password.
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        scheme = value.partition("://")[0] if "://" in value else "(none)"
        raise ValueError(
            f"scheme {scheme!r} is not Redis; use redis://host:6379/0 (rediss:// for TLS, unix:// for a socket)"
        )
    return value


RedisUrl = Annotated[str | None, AfterValidator(check_redis_url)]
