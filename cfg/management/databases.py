"""What check_databases, migrate_all and migrator share: the aliases, the apps the router sends to each, their
migration plans, and migrating them in order.

Django's `migrate --database ALIAS` records every migration in that alias's django_migrations, but the operations
of an app run only where the router allows it (AppDatabaseRouter, from the `databases` config's `apps`). So a
plan here counts the migrations of the apps that live in the alias: the ones that change its schema.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from typing import IO, Any, cast

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import OutputWrapper
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

# Seconds to wait for a server to accept a connection, unless the alias's OPTIONS say otherwise: a stopped or
# unreachable server fails in seconds, not after the system's TCP timeout.
CHECK_CONNECT_TIMEOUT = 3
MIGRATE_CONNECT_TIMEOUT = 10


def console_for(stream: OutputWrapper) -> Console:
    """A rich console on a command's stdout: the terminal's width, or a wide one for a file or a pipe."""
    return Console(file=cast(IO[str], stream), width=None if stream.isatty() else 160)


def database_aliases() -> list[str]:
    """Every alias, default first, then the others in the order the config lists them."""
    return [DEFAULT_DB_ALIAS, *(alias for alias in connections if alias != DEFAULT_DB_ALIAS)]


class UnknownAlias(ValueError):
    """An alias that the configuration does not define."""


def require_alias(alias: str) -> str:
    if alias not in connections.settings:
        raise UnknownAlias(f"unknown database {alias!r}; configured: {', '.join(database_aliases())}")
    return alias


def routed_apps(alias: str) -> list[str]:
    """The app labels that the `databases` config sends to `alias` by name."""
    mapping: dict[str, str] = getattr(settings, "DATABASE_APPS_MAPPING", {})
    return sorted(label for label, target in mapping.items() if target == alias)


def apps_description(alias: str) -> str:
    routed = routed_apps(alias)
    if routed:
        return ", ".join(routed)
    mapping: dict[str, str] = getattr(settings, "DATABASE_APPS_MAPPING", {})
    return "all others" if alias == DEFAULT_DB_ALIAS and mapping else "all"


def app_alias(app_label: str) -> str:
    """The alias whose schema holds `app_label`'s tables."""
    mapping: dict[str, str] = getattr(settings, "DATABASE_APPS_MAPPING", {})
    return mapping.get(app_label, DEFAULT_DB_ALIAS)


def lives_in(alias: str, app_label: str) -> bool:
    return bool(router.allow_migrate(alias, app_label))


def location(settings_dict: dict[str, Any]) -> str:
    """Where an alias's server is, for people: host:port, a socket directory, or the embedded server."""
    if settings_dict["ENGINE"].startswith("cfg.db."):
        return "the embedded server"
    host = settings_dict.get("HOST") or ""
    if not host or host.startswith("/"):
        return f"socket {host or '(default)'}"
    return f"{host}:{settings_dict.get('PORT') or 5432}"


def describe_error(error: BaseException, settings_dict: dict[str, Any]) -> str:
    """One line: psycopg's `connection to server at "h", port p failed: Connection refused` (and a hint on the
    lines after) becomes `connection refused at h:p`; any other error, its first line."""
    text = str(error).strip()
    first = text.splitlines()[0].strip() if text else type(error).__name__
    if "connection" in first and "failed: " in first:
        reason = first.rsplit("failed: ", 1)[1].removeprefix("FATAL:").strip()
        return f"{reason[:1].lower()}{reason[1:]} at {location(settings_dict)}"
    return first


@contextmanager
def probe_connection(alias: str) -> Iterator[BaseDatabaseWrapper]:
    """A connection of its own to `alias`, closed after: no pool (whose timeout is for requests that wait for a
    free connection) and a short connect timeout. The process's own connection to the alias is left alone."""
    settings_dict = copy.deepcopy(connections[alias].settings_dict)
    settings_dict["OPTIONS"].pop("pool", None)
    settings_dict["OPTIONS"].setdefault("connect_timeout", CHECK_CONNECT_TIMEOUT)
    settings_dict["CONN_MAX_AGE"] = 0
    connection = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        yield connection
    finally:
        connection.close()


def pending_migrations(connection: BaseDatabaseWrapper, executor: MigrationExecutor | None = None) -> list[Migration]:
    """The unapplied migrations of the apps that live in the connection's alias, in the order they would run."""
    executor = executor or MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [migration for migration, _ in plan if lives_in(connection.alias, migration.app_label)]


def migration_name(migration: Migration) -> str:
    return f"{migration.app_label}.{migration.name}"


@dataclass
class MigrateResult:
    alias: str
    applied: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


class MigrateFailed(Exception):
    """An alias could not be migrated; `results` holds the aliases done before it, and the failed one last."""

    def __init__(self, message: str, results: list[MigrateResult]) -> None:
        super().__init__(message)
        self.message = message
        self.results = results


class _MigrateWithProgress(MigrateCommand):
    """Django's migrate, reporting each migration it starts and finishes (applying or unapplying) instead of
    printing it: `on_step` hears ("start" or "done", the migration)."""

    def __init__(self, on_step: Callable[[str, Migration], None]) -> None:
        super().__init__()
        self.on_step = on_step

    def migration_progress_callback(self, action: str, migration: Migration | None = None, fake: bool = False) -> None:
        if migration is None:
            return
        if action in ("apply_start", "unapply_start"):
            self.on_step("start", migration)
        elif action in ("apply_success", "unapply_success"):
            self.on_step("done", migration)


def migrating_connection(alias: str) -> BaseDatabaseWrapper:
    """The process's connection to `alias`, with a connect timeout (unless its OPTIONS set one)."""
    connection = connections[alias]
    connection.settings_dict["OPTIONS"].setdefault("connect_timeout", MIGRATE_CONNECT_TIMEOUT)
    return connection


class Steps:
    """What a migrate run did, step by step: the migrations done, and the one under way (when it fails: the one
    that failed). `on_done` hears of each migration done."""

    def __init__(self, on_done: Callable[[Migration], None]) -> None:
        self.on_done = on_done
        self.done: list[str] = []
        self.current: str | None = None

    def __call__(self, event: str, migration: Migration) -> None:
        if event == "start":
            self.current = migration_name(migration)
            return
        self.current = None
        self.done.append(migration_name(migration))
        self.on_done(migration)

    def failed_at(self) -> str:
        return f" at {self.current}" if self.current else ""


def run_migrate(alias: str, steps: Steps, *target: str) -> None:
    """Django's migrate on `alias` (to `target`: an app label, or an app label and a migration name), quietly:
    `steps` hears of each migration as it runs."""
    migrating_connection(alias)
    call_command(
        _MigrateWithProgress(steps), *target, database=alias, interactive=False, verbosity=0, stdout=StringIO()
    )


def progress_display(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def migrate_aliases(aliases: list[str], console: Console) -> list[MigrateResult]:
    """Migrate each alias in turn with Django's migrate, the router deciding which apps go where. Stops at the
    first alias that fails (MigrateFailed): the ones after it are not touched."""
    results: list[MigrateResult] = []
    with progress_display(console) as progress:
        for position, alias in enumerate(aliases):
            result = MigrateResult(alias=alias)
            results.append(result)
            connection = migrating_connection(alias)
            task = progress.add_task(f"{alias}: planning", total=None)
            started = time.perf_counter()

            def applied(
                migration: Migration, alias: str = alias, result: MigrateResult = result, task: TaskID = task
            ) -> None:
                if lives_in(alias, migration.app_label):
                    result.applied.append(migration_name(migration))
                    progress.update(task, advance=1, description=f"{alias}: {migration_name(migration)}")

            steps = Steps(applied)
            try:
                progress.update(task, total=len(pending_migrations(connection)), description=f"{alias}: migrating")
                run_migrate(alias, steps)
            except Exception as error:
                result.error = f"{describe_error(error, connection.settings_dict)}{steps.failed_at()}"
                result.seconds = time.perf_counter() - started
                progress.update(task, description=f"{alias}: failed")
                skipped = aliases[position + 1 :]
                after = f"; not migrated after it: {', '.join(skipped)}" if skipped else ""
                raise MigrateFailed(f"Migrating database {alias!r} failed: {result.error}{after}", results) from error
            result.seconds = time.perf_counter() - started
            progress.update(task, description=f"{alias}: done")
    return results


def summary_table(results: list[MigrateResult]) -> Table:
    table = Table("alias", "apps", "migrations applied", "time", "result", title="Migrations")
    for result in results:
        outcome = Text(f"failed: {result.error}", style="red") if result.error else Text("ok", style="green")
        applied = str(len(result.applied)) if result.applied or not result.error else "—"
        table.add_row(result.alias, apps_description(result.alias), applied, f"{result.seconds:.2f} s", outcome)
    return table
