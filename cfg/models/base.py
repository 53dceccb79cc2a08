"""Shared pieces of the typed config models."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Annotated, Any, NoReturn, Self
from urllib.parse import SplitResult, parse_qsl, urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

# No pydantic plugin is installed, and pydantic looks for them in every installed distribution's entry points when it
# builds its first model (~25 ms of every process's start). PYDANTIC_DISABLE_PLUGINS set to "" looks for them again.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


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

    # Fields are described by the docstring under them, read by attribute_docstrings() when show_config asks, not by
    # pydantic's use_attribute_docstrings, which parses every model's source each time the config is imported.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @model_validator(mode="after")
    def _freeze_containers(self) -> Self:
        for name in type(self).model_fields:
            value = getattr(self, name)
            frozen = deep_freeze(value)
            if frozen is not value:
                object.__setattr__(self, name, frozen)
        return self


@cache
def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstrings written under `model`'s own fields (not its bases'), by field name."""
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    return extract_docstrings_from_cls(model)


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

_RATE = re.compile(r"(?P<count>[0-9]+)/(?P<period>[a-z]+)")
# The forms Django REST framework reads: it keys on the first letter, so plurals work too.
RATE_PERIODS = frozenset(
    {"s", "sec", "second", "seconds", "m", "min", "minute", "minutes", "h", "hour", "hours", "d", "day", "days"}
)


def check_rate(value: str | None) -> str | None:
    if value is None:
        return value
    match = _RATE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not a throttle rate; use a number and a period such as '100/hour' or '10/minute'"
        )
    if match["period"] not in RATE_PERIODS:
        raise ValueError(
            f"{value!r} has an unknown period {match['period']!r}; use second, minute, hour or day, as in '100/hour'"
        )
    if int(match["count"]) == 0:
        raise ValueError(f"{value!r} would refuse every request; allow at least 1, as in '5/hour'")
    return value


Rate = Annotated[str | None, AfterValidator(check_rate)]


def check_port(parts: SplitResult, example: str) -> None:
    """A port, when given, is a number from 1 to 65535 (urlsplit accepts 0 and raises for the rest)."""
    try:
        port = parts.port
    except ValueError:
        written = parts.netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]
        # Only digits are echoed: in a malformed URL the text after a colon may be a password.
        if written.isascii() and written.isdigit():
            raise ValueError(f"port {written} is out of range; use a port from 1 to 65535, as in {example}") from None
        raise ValueError(f"the port is not a number; write a port from 1 to 65535, as in {example}") from None
    if port == 0:
        raise ValueError(f"port 0 is out of range; use a port from 1 to 65535, as in {example}")


def split_url(value: str, example: str) -> SplitResult:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket
        raise ValueError("the host is not a valid IPv6 address; write it in brackets, as in [::1]") from None
    check_port(parts, example)
    return parts


POSTGRES_EXAMPLE = "postgres://user:password@host:5432/name"


def check_postgres_url(value: str) -> str:
    parts = split_url(value, POSTGRES_EXAMPLE)
    if parts.scheme not in ("postgres", "postgresql", "pgvector"):
        raise ValueError(
            f"scheme {parts.scheme or '(none)'!r} is not PostgreSQL; this project runs on PostgreSQL only: "
            f"use {POSTGRES_EXAMPLE}"
        )
    if not parts.path.strip("/"):
        raise ValueError("the URL names no database; add it after the host, as in postgres://user@host:5432/name")
    return value


PostgresUrl = Annotated[str, AfterValidator(check_postgres_url)]

REDIS_EXAMPLE = "redis://host:6379/0"


def check_redis_url(value: str | None) -> str | None:
    # The value is not echoed: a Redis URL may carry a password.
    if value is None:
        return value
    if not value.startswith(("redis://", "rediss://", "unix://")):
        scheme = value.partition("://")[0] if "://" in value else "(none)"
        raise ValueError(
            f"scheme {scheme!r} is not Redis; use {REDIS_EXAMPLE} (rediss:// for TLS, unix:// for a socket)"
        )
    parts = split_url(value, REDIS_EXAMPLE)
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("the URL names no socket; use unix:///path/to/redis.sock")
    # redis-py would silently fall back to database 0 for a path that is not a number.
    databases = [parts.path.strip("/")] if parts.scheme != "unix" and parts.path.strip("/") else []
    databases += [number for name, number in parse_qsl(parts.query) if name == "db"]
    if any(not (number.isascii() and number.isdigit()) for number in databases):
        raise ValueError(f"the database is not a number; end the URL with a database number, as in {REDIS_EXAMPLE}")
    return value


RedisUrl = Annotated[str | None, AfterValidator(check_redis_url)]
