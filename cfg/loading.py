"""Builds a DjangoConfig from its sources and turns every mistake into a readable line.

Sources, lowest to highest: field defaults, smart defaults for the environment,
config/environments/<env>.yaml, .env, the process environment. Nested keys use `__`
(EMAIL__HOST sets email.host). Each value remembers where it came from. A variable that looks like a
misspelt setting (SECURTY__ALLOWED_HOSTS), a file that is not UTF-8 and a YAML key given twice stop
loading too, before validation.
"""

from __future__ import annotations

import difflib
import io
import itertools
import os
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from cfg.defaults import SMART_DEFAULTS
from cfg.environment import ALIASES, Environment, detect_environment
from cfg.exceptions import ConfigProblem, ConfigurationError, RuleViolation, UnknownSection

if TYPE_CHECKING:
    from yaml.nodes import Node

Path_ = tuple[str, ...]
ENV_VAR_FOR: dict[Path_, str] = {("env",): "DJANGO_ENV"}
SECRET_WORDS = ("secret", "password", "token", "key", "url")
NO_SOURCE = "none of the sources"
# How alike a misspelt name and the real one must be (difflib's ratio) for a did-you-mean.
CLOSE_ENOUGH = 0.75


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

    def setting_name(self, loc: tuple[Any, ...], renamed: Path_ | None = None) -> str:
        """How the source of loc spells it, or spells `renamed` (a suggestion) in the same place."""
        path = tuple(str(part) for part in loc)
        found = self.sources_of(loc)
        return (found[0] if len(found) == 1 else DEFAULT).setting(renamed or path)


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


def _sections(model: type[BaseModel]) -> dict[str, set[str]]:
    """Top-level fields that hold keys of their own, with those keys (none listed for a mapping of any keys)."""
    sections: dict[str, set[str]] = {}
    for name in _top_level_fields(model):
        annotation = model.model_fields[name].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = set(_top_level_fields(annotation))
        elif typing.get_origin(annotation) is dict:
            sections[name] = set()
    return sections


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def misspelt_variables(environ: Mapping[str, str], model: type[BaseModel], source: Source) -> list[ConfigProblem]:
    """Variables shaped like a setting of a section that does not exist: SECURTY__ALLOWED_HOSTS.

    Only a name in upper case that starts with a letter and holds `__` can be one, and it is taken for a
    misspelt setting only when its first part is close to a section's name, or the rest names a key of a
    section (WEB__ALLOWED_HOSTS). Other tools' variables (__CF_USER_TEXT_ENCODING, X__Y) are left alone.
    """
    fields = _top_level_fields(model)
    sections = _sections(model)
    problems: list[ConfigProblem] = []
    for name in sorted(environ):
        prefix, _, rest = name.partition("__")
        if not rest or name != name.upper() or not name[:1].isalpha() or prefix.lower() in fields:
            continue
        guesses = difflib.get_close_matches(prefix.lower(), sections, n=1, cutoff=CLOSE_ENOUGH)
        if not guesses:
            key = rest.partition("__")[0].lower()
            guesses = sorted(section for section, keys in sections.items() if key in keys)
        if guesses:
            shown = name if source.kind == "env" else f"{name} in .env"
            origin = f"env var {name}" if source.kind == "env" else f".env key {name}"
            suggestions = _either([f"{guess.upper()}__{rest}" for guess in guesses])
            problems.append(
                UnknownSection(shown, origin, f'no section "{prefix.lower()}"', f"did you mean {suggestions}?")
            )
    return problems


def _position(before: str) -> str:
    """Line and column of the character that follows `before`."""
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    return f"line {line}, column {column}"


def _decode(raw: bytes, shown_as: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        where = _position(raw[: error.start].decode("utf-8"))
        raise ConfigurationError(
            [ConfigProblem(shown_as, where, f"is not UTF-8 text (byte 0x{raw[error.start]:02x})", "save it as UTF-8")]
        ) from None


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    text = _decode(path.read_bytes(), ".env")
    return {key: value for key, value in dotenv_values(stream=io.StringIO(text)).items() if value is not None}


def _duplicate_keys(
    node: Node, shown_as: str, path: Path_ = (), visited: set[int] | None = None
) -> Iterator[ConfigProblem]:
    """Every key given twice in one mapping: PyYAML would silently keep the last."""
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias of a node already walked
        return
    visited.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, shown_as, (*path, str(index)), visited)
    if not isinstance(node, MappingNode):
        return
    first: dict[tuple[str, str], Node] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            yield from _duplicate_keys(value, shown_as, path, visited)
            continue
        dotted = ".".join((*path, key.value))
        earlier = first.setdefault((key.tag, key.value), key)
        if earlier is not key:
            yield ConfigProblem(
                shown_as,
                f"line {key.start_mark.line + 1}, column {key.start_mark.column + 1}",
                f"the key {dotted} is set twice (first at line {earlier.start_mark.line + 1})",
                f"delete one of the two {dotted} lines",
            )
        yield from _duplicate_keys(value, shown_as, (*path, key.value), visited)


def _parse_yaml(text: str, shown_as: str) -> Any:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = list(_duplicate_keys(node, shown_as))
        if duplicates:
            raise ConfigurationError(duplicates)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path, shown_as: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import yaml

    text = _decode(path.read_bytes(), shown_as)
    try:
        data = _parse_yaml(text, shown_as) or {}
    except yaml.reader.ReaderError as error:
        where = _position(text[: error.position])
        raise ConfigurationError(
            [
                ConfigProblem(
                    shown_as,
                    where,
                    f"is not valid YAML: the control character U+{error.character:04X} is not allowed",
                    f"delete it at {where}",
                )
            ]
        ) from None
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
    misspelt = [
        *misspelt_variables(dotenv, model, Source("dotenv")),
        *misspelt_variables(environ, model, Source("env")),
    ]
    if misspelt:
        # Reported alone: what the misspelt variable meant to set would otherwise show up as more mistakes.
        raise ConfigurationError(misspelt)
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


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The config model that holds the keys at path (through mappings such as databases), if any."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field else None
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def closest_key(model: type[BaseModel], path: Path_) -> Path_ | None:
    """The setting an unknown key at path was probably meant to be: email.prot -> email.port."""
    holder = _model_at(model, path[:-1])
    if holder is None:
        return None
    close = difflib.get_close_matches(path[-1], _top_level_fields(holder), n=1, cutoff=CLOSE_ENOUGH)
    return (*path[:-1], close[0]) if close else None


def problems_from_validation(
    error: ValidationError, sources: Sources, model: type[BaseModel] | None = None
) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"] if not isinstance(part, int)) or "(config)"
        # A mistake inside a list item (project_apps[0].url_prefix) comes from the setting that holds the list.
        loc = tuple(str(part) for part in itertools.takewhile(lambda part: not isinstance(part, int), item["loc"]))
        name = sources.setting_name(loc) if loc else "the configuration"
        problem, fix = _problem_and_fix(item, name, env_var_name(loc))
        meant = closest_key(model, loc) if model and item["type"] == "extra_forbidden" and loc == item["loc"] else None
        if meant:
            fix = f"did you mean {sources.setting_name(loc, meant)}?"
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
        raise ConfigurationError(problems_from_validation(error, sources, model)) from None
    except RuleViolation as violation:
        problems = [
            ConfigProblem(".".join(path), sources.origin_of(path), problem, fix)
            for path, problem, fix in violation.violations
        ]
        raise ConfigurationError(problems) from None
