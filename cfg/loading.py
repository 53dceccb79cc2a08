"""Builds a DjangoConfig from its sources and turns every mistake into a readable line.

Sources, lowest to highest: field defaults, smart defaults for the environment,
config/environments/<env>.yaml, .env, the process environment. Nested keys use `__`
(EMAIL__HOST sets email.host). Each value remembers where it came from.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cfg.defaults import SMART_DEFAULTS
from cfg.environment import ALIASES, Environment, detect_environment
from cfg.exceptions import ConfigProblem, ConfigurationError, RuleViolation

Path_ = tuple[str, ...]
ENV_VAR_FOR: dict[Path_, str] = {("env",): "DJANGO_ENV"}
SECRET_WORDS = ("secret", "password", "token", "key", "url")
NO_SOURCE = "none of the sources"


def env_var_name(path: Path_) -> str:
    return ENV_VAR_FOR.get(path, "__".join(path).upper())


@dataclass(frozen=True)
class Source:
    """One place values come from: kind is "default", "smart", "yaml", "dotenv" or "env"."""

    kind: str
    label: str = ""  # the environment for smart defaults, the file for YAML

    def describe(self, path: Path_) -> str:
        if self.kind == "env":
            return f"env var {env_var_name(path)}"
        if self.kind == "dotenv":
            return f".env key {env_var_name(path)}"
        if self.kind == "yaml":
            return f"{self.label} key {'.'.join(path)}"
        if self.kind == "smart":
            return f"the smart default for {self.label}"
        return self.label or "the default"

    def setting(self, path: Path_) -> str:
        """How a person names this setting in this source, for the `Fix:` part of a message."""
        if self.kind == "yaml":
            return f"{'.'.join(path)} in {self.label}"
        if self.kind == "dotenv":
            return f"{env_var_name(path)} in .env"
        return env_var_name(path)


DEFAULT = Source("default")


class Sources:
    """A nested dict of values plus, for each path, the source that set it last."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origins: dict[Path_, Source] = {}

    def set(self, path: Path_, value: Any, source: Source) -> None:
        node = self.values
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
        # A whole value replaces what lower sources set below it.
        for known in [known for known in self.origins if known[: len(path)] == path and known != path]:
            del self.origins[known]
        self.origins[path] = source

    def merge(self, tree: Mapping[str, Any], source: Source, prefix: Path_ = ()) -> None:
        for key, value in tree.items():
            path = (*prefix, str(key))
            if isinstance(value, Mapping) and value:
                self.merge(value, source, path)
            else:
                self.set(path, value, source)

    def _set_at(self, path: Path_) -> dict[Source, list[Path_]]:
        """The source that set path (or an enclosing value), else the sources of the values inside it."""
        outer = path
        while outer:
            if outer in self.origins:
                return {self.origins[outer]: [path]}
            outer = outer[:-1]
        inside: dict[Source, list[Path_]] = {}
        for known, source in self.origins.items():
            if known[: len(path)] == path:
                inside.setdefault(source, []).append(known)
        return inside

    def sources_of(self, loc: tuple[Any, ...]) -> list[Source]:
        return list(self._set_at(tuple(str(part) for part in loc)))

    def origin_of(self, loc: tuple[Any, ...]) -> str:
        path = tuple(str(part) for part in loc)
        found = self._set_at(path)
        if not found:
            return "the default"
        # One value inside: name it exactly (EMAIL__USE_SSL); several: name the enclosing key.
        return " and ".join(source.describe(paths[0] if len(paths) == 1 else path) for source, paths in found.items())

    def setting_name(self, loc: tuple[Any, ...]) -> str:
        path = tuple(str(part) for part in loc)
        found = self.sources_of(loc)
        return (found[0] if len(found) == 1 else DEFAULT).setting(path)


def _top_level_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, field in model.model_fields.items() if not field.exclude}


def environ_values(environ: Mapping[str, str], model: type[BaseModel]) -> dict[Path_, str]:
    """Environment variables that name a config field: SECRET_KEY, EMAIL__HOST, DATABASES__X__URL."""
    fields = _top_level_fields(model)
    found: dict[Path_, str] = {}
    for name, value in environ.items():
        if name == "DJANGO_ENV":
            found[("env",)] = value
            continue
        if name != name.upper():
            continue
        path = tuple(part.lower() for part in name.split("__"))
        if path[0] in fields and path[0] != "env" and all(path):
            found[path] = value
    return found


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def read_yaml(path: Path, shown_as: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the file"
        what = getattr(error, "problem", None) or "cannot be parsed"
        raise ConfigurationError(
            [ConfigProblem(shown_as, where, f"is not valid YAML: {what}", f"correct the YAML syntax at {where}")]
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            [
                ConfigProblem(
                    shown_as,
                    "the file",
                    f"must be a mapping of keys to values, not a {type(data).__name__}",
                    "write `key: value` lines at the top level, e.g. `debug: false`",
                )
            ]
        )
    return data


def _environment(process: Mapping[str, str], dotenv: Mapping[str, str]) -> tuple[Environment, Source]:
    raw = process.get("DJANGO_ENV") or dotenv.get("DJANGO_ENV")
    source = Source("env") if process.get("DJANGO_ENV") else Source("dotenv") if raw else Source("default", "detection")
    try:
        return detect_environment(raw), source
    except ValueError:
        choices = ", ".join(e.value for e in Environment)
        raise ConfigurationError(
            [
                ConfigProblem(
                    "env",
                    source.describe(("env",)),
                    f"{raw!r} is not an environment",
                    f"set DJANGO_ENV to one of: {choices} (or {', '.join(ALIASES)})",
                )
            ]
        ) from None


def collect_sources(model: type[BaseModel], base_dir: Path, environ: Mapping[str, str]) -> Sources:
    dotenv = read_dotenv(base_dir / ".env")
    env, env_source = _environment(environ, dotenv)
    sources = Sources()
    sources.set(("base_dir",), base_dir, Source("default", "the project directory"))
    sources.merge(SMART_DEFAULTS[env], Source("smart", env.value))
    relative = Path("config") / "environments" / f"{env.value}.yaml"
    sources.merge(read_yaml(base_dir / relative, relative.as_posix()), Source("yaml", relative.as_posix()))
    for path, value in environ_values(dotenv, model).items():
        sources.set(path, value, Source("dotenv"))
    for path, value in environ_values(environ, model).items():
        sources.set(path, value, Source("env"))
    sources.set(("env",), env.value, env_source)
    return sources


def _looks_secret(path: Path_) -> bool:
    return any(word in part for part in path for word in SECRET_WORDS)


def _choices(expected: Any) -> str:
    return str(expected).replace("' or '", "', '")


def _problem_and_fix(error: Mapping[str, Any], name: str, var: str) -> tuple[str, str]:
    """What is wrong and how to fix it, in words; `name` is the setting as its source spells it."""
    # An env var or .env key cannot hold a whole section; YAML can.
    if name == var or name.startswith(f"{var} in "):
        nested = f"remove {name} and set the keys inside it one by one, as {var}__<KEY>"
    else:
        nested = f"write {name} as a YAML mapping, or set its keys one by one as {var}__<KEY>"
    kind = error["type"]
    context = error.get("ctx") or {}
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error" and "; " in message:
        problem, _, fix = message.partition("; ")
        return problem, fix[:1].lower() + fix[1:]
    known = {
        "missing": ("is required", f"set {name}"),
        "bool_parsing": ("is not true or false", f"set {name} to true or false"),
        "bool_type": ("is not true or false", f"set {name} to true or false"),
        "int_parsing": ("is not a whole number", f"set {name} to a whole number"),
        "int_type": ("is not a whole number", f"set {name} to a whole number"),
        "int_from_float": ("is not a whole number", f"set {name} to a whole number"),
        "float_parsing": ("is not a number", f"set {name} to a number"),
        "string_type": ("is not text", f"set {name} to a text value"),
        "literal_error": (
            f"must be one of {_choices(context.get('expected', ''))}",
            f"set {name} to one of {_choices(context.get('expected', ''))}",
        ),
        "enum": (
            f"must be one of {_choices(context.get('expected', ''))}",
            f"set {name} to one of {_choices(context.get('expected', ''))}",
        ),
        "greater_than_equal": (f"must be at least {context.get('ge')}", f"set {name} to {context.get('ge')} or more"),
        "greater_than": (f"must be more than {context.get('gt')}", f"set {name} to more than {context.get('gt')}"),
        "less_than_equal": (f"must be at most {context.get('le')}", f"set {name} to {context.get('le')} or less"),
        "less_than": (f"must be less than {context.get('lt')}", f"set {name} to less than {context.get('lt')}"),
        "extra_forbidden": ("is not a setting", f"remove {name} or correct its spelling"),
        "string_pattern_mismatch": (
            f"does not match the pattern {context.get('pattern')}",
            f"set {name} to match {context.get('pattern')}",
        ),
        "list_type": ("is not a list", f"set {name} to a comma-separated list"),
        "tuple_type": ("is not a list", f"set {name} to a comma-separated list"),
        "dict_type": ("is not a mapping", nested),
        "model_type": ("is not a mapping", nested),
    }
    return known.get(kind, (message, f"correct {name}"))


def problems_from_validation(error: ValidationError, sources: Sources) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"] if not isinstance(part, int)) or "(config)"
        # A mistake inside a list item (project_apps[0].url_prefix) comes from the setting that holds the list.
        loc = tuple(str(part) for part in itertools.takewhile(lambda part: not isinstance(part, int), item["loc"]))
        name = sources.setting_name(loc) if loc else "the configuration"
        problem, fix = _problem_and_fix(item, name, env_var_name(loc))
        value = item.get("input")
        # Echo a plain value back, never a secret or a URL that may carry a password. Our own
        # validators (value_error) quote the offending part themselves.
        if (
            item["type"] not in ("missing", "extra_forbidden", "value_error")
            and loc
            and not _looks_secret(loc)
            and isinstance(value, (str, int, float, bool))
            and repr(value) not in problem
        ):
            problem = f"{problem} (got {value!r})"
        origin = NO_SOURCE if item["type"] == "missing" and not sources.sources_of(loc) else sources.origin_of(loc)
        problems.append(ConfigProblem(field, origin, problem, fix))
    return problems


def load_config[C: BaseModel](model: type[C], *, base_dir: Path, environ: Mapping[str, str] | None = None) -> C:
    """Build and validate the config, or raise ConfigurationError with one line per mistake."""
    sources = collect_sources(model, base_dir, os.environ if environ is None else environ)
    try:
        return model.model_validate(sources.values)
    except ValidationError as error:
        raise ConfigurationError(problems_from_validation(error, sources)) from None
    except RuleViolation as violation:
        problems = [
            ConfigProblem(".".join(path), sources.origin_of(path), problem, fix)
            for path, problem, fix in violation.violations
        ]
        raise ConfigurationError(problems) from None
