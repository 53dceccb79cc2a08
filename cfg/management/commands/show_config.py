"""show_config: the effective configuration, one table per section, each value with the source that set it.

The sources are those the loader merged (cfg.loading.collect_sources), read again from the same environment:
a path no source set holds its field default. Secrets are masked by cfg.introspection.masked_dump, as in --json,
whose output scripts read and which therefore stays the plain masked dump.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cfg.config import DjangoConfig
from cfg.exceptions import ConfigurationError
from cfg.introspection import env_var_reference, mapping_defaults, masked_dump
from cfg.loading import Path_, Source, Sources, collect_sources
from cfg.management.base import config_class, load_fresh

CORE = "core"
DATABASES = "databases"
APPS = "apps"
DATABASE_FIELDS = frozenset({"database_url", "databases", "db_conn_max_age", "db_pool"})
APP_FIELDS = frozenset({"project_apps", "project_middleware"})
# Wide enough that a row stays on one line when the output goes to a file or a pipe (grep, less).
PIPE_WIDTH = 160


class _ReadableDumper(yaml.SafeDumper):
    """Double quotes for text holding a single quote: "'self'" reads better than '\'\'self\'\''."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if "'" in text else None)


_ReadableDumper.add_representer(str, _represent_text)


@dataclass(frozen=True)
class Row:
    key: str
    value: Any  # as masked_dump shows it: plain data, secrets masked
    source: str


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def sections(model: type[BaseModel]) -> dict[str, list[str]]:
    """Each section's top-level fields, in the model's order: the plain values, the databases, one section per
    sub-model (a project's own sub-model gets its own too), then the apps."""
    core: list[str] = []
    databases: list[str] = []
    apps: list[str] = []
    models: dict[str, list[str]] = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        if name in DATABASE_FIELDS:
            databases.append(name)
        elif name in APP_FIELDS or name.startswith("enable_"):
            apps.append(name)
        elif _is_model(field.annotation):
            models[name] = [name]
        else:
            core.append(name)
    return {CORE: core, DATABASES: databases, **models, APPS: apps}


def _origins(sources: Sources, path: Path_) -> list[tuple[Source, Path_]]:
    """The source that set path or a value enclosing it, else every source that set a value inside it."""
    for depth in range(len(path), 0, -1):
        source = sources.origins.get(path[:depth])
        if source is not None:
            return [(source, path[:depth])]
    return [(source, known) for known, source in sources.origins.items() if known[: len(path)] == path]


def describe(source: Source, path: Path_) -> str:
    if source.kind == "smart":
        return f"smart default ({source.label})"
    if source.kind == "default":
        return "detected" if source.label == "detection" else "default"
    return source.describe(path)  # env var NAME, .env key NAME, <file> key a.b


def default_text(model: type[BaseModel], path: Path_) -> str:
    """A default that the project's config class sets itself (project_name) says where it is set."""
    declared_in = [cls for cls in model.__mro__ if len(path) == 1 and path[0] in inspect.get_annotations(cls)]
    if len(declared_in) > 1 and declared_in[0] is model:
        return f"default ({model.__module__.replace('.', '/')}.py)"
    return "default"


def source_text(sources: Sources, path: Path_, model: type[BaseModel]) -> str:
    found = _origins(sources, path)
    if not found:
        return default_text(model, path)
    return "; ".join(dict.fromkeys(describe(source, where) for source, where in found))


def _leaves(path: Path_, value: Any, shown: Any, sources: Sources, model: type[BaseModel]) -> Iterator[Row]:
    """A sub-model, or a mapping of sub-models (the database aliases), opens into a row per value."""
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            if not field.exclude:
                yield from _leaves((*path, name), getattr(value, name), shown[name], sources, model)
    elif isinstance(value, Mapping) and value and all(isinstance(item, BaseModel) for item in value.values()):
        for key, item in value.items():
            yield from _leaves((*path, str(key)), item, shown[key], sources, model)
    else:
        yield Row(".".join(path), shown, source_text(sources, path, model))


def section_rows(config: BaseModel, sources: Sources, fields: list[str]) -> list[Row]:
    dump, model = masked_dump(config), type(config)
    return [row for name in fields for row in _leaves((name,), getattr(config, name), dump[name], sources, model)]


def shown_value(value: Any) -> Text:
    if value is None:
        return Text("(not set)", style="dim")
    if value == "":
        return Text("(empty)", style="dim")
    if isinstance(value, str):
        return Text(value)
    return Text(json.dumps(value, ensure_ascii=False))  # true, 300, ["a", "b"], {"k": "v"}: as in JSON and YAML


class Command(BaseCommand):
    help = (
        "Show the configuration by section, each value with its source (default, smart default, YAML key, .env "
        "key, env var) and secrets masked; --json for scripts, --env-vars for the reference table."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--section", metavar="NAME", help="Show one section, e.g. email (core, databases, apps…)")
        parser.add_argument("--json", action="store_true", help="Print the masked values as JSON, without sources")
        parser.add_argument("--env-vars", action="store_true", help="Print every environment variable as Markdown")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["env_vars"]:
            self._write_env_vars(config_class())
            return
        model = config_class()
        by_section = sections(model)
        chosen = options["section"]
        if chosen is not None and chosen not in by_section:
            raise CommandError(f"no section {chosen!r}; choose one of: {', '.join(by_section)}")
        # The one environment for both the values and their sources.
        environ = dict(os.environ)
        try:
            config = load_fresh(environ)
            sources = collect_sources(model, Path(settings.BASE_DIR), environ)
        except ConfigurationError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            data = masked_dump(config)
            if chosen is not None:
                data = {name: data[name] for name in by_section[chosen]}
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        stdout = cast(IO[str], self.stdout)
        console = Console(file=stdout, width=None if stdout.isatty() else PIPE_WIDTH, highlight=False)
        for name, fields in by_section.items():
            if chosen is not None and name != chosen:
                continue
            table = Table("key", "value", "source", title=name, title_justify="left", title_style="bold")
            for row in section_rows(config, sources, fields):
                table.add_row(row.key, shown_value(row.value), row.source)
            console.print(table)

    def _write_env_vars(self, model: type[DjangoConfig]) -> None:
        self.stdout.write("| Variable | Default | Per environment | Meaning |\n| --- | --- | --- | --- |")
        for row in env_var_reference(model):
            # A pipe would end the table cell and a line break the row: a docstring may wrap.
            meaning = " ".join(row.description.split()).replace("|", "\\|")
            self.stdout.write(f"| `{row.name}` | `{row.default}` | {row.per_environment} | {meaning} |")
        self.stdout.write(
            "\nThe defaults that are mappings, as they would be written in config/environments/<env>.yaml (a "
            "mapping given there replaces the default as a whole):\n\n```yaml"
        )
        text = yaml.dump(
            mapping_defaults(model), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100
        )
        self.stdout.write(text.rstrip())
        self.stdout.write("```")
