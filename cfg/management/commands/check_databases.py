"""check_databases: is every database alias reachable, migrated and equipped with the extensions its apps need?"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.postgres.operations import CreateExtension
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from rich.table import Table
from rich.text import Text

from cfg.management.databases import (
    apps_description,
    console_for,
    database_aliases,
    describe_error,
    lives_in,
    location,
    migration_name,
    pending_migrations,
    probe_connection,
    routed_apps,
)


@dataclass
class DatabaseReport:
    alias: str
    database: str
    apps: str
    routed_apps: list[str]
    reachable: bool = False
    server_version: str | None = None
    connect_ms: float | None = None
    latency_ms: float | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    required_extensions: dict[str, list[str]] = field(default_factory=dict)
    unapplied_migrations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.reachable and not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ready": self.ready}


def required_extensions(loader: MigrationLoader, alias: str) -> dict[str, list[str]]:
    """Extension name -> the apps whose migrations create it (pgvector's `vector` for the apps that store
    embeddings), among the apps that live in `alias`."""
    required: dict[str, set[str]] = {}
    for migration in loader.disk_migrations.values():
        if not lives_in(alias, migration.app_label):
            continue
        for operation in migration.operations:
            if isinstance(operation, CreateExtension):
                required.setdefault(operation.name, set()).add(migration.app_label)
    return {name: sorted(apps) for name, apps in sorted(required.items())}


def extension_problems(report: DatabaseReport, available: set[str], created_by_pending: set[str]) -> list[str]:
    problems = []
    for name, apps in report.required_extensions.items():
        if name in report.extensions or (name in created_by_pending and name in available):
            continue
        needed_by = f"extension {name} (needed by {', '.join(apps)})"
        if name not in available:
            problems.append(f"{needed_by} is not available on the server; install it there")
        else:
            problems.append(f"{needed_by} is missing though its migrations are applied; run CREATE EXTENSION {name}")
    return problems


def inspect_connection(report: DatabaseReport, connection: BaseDatabaseWrapper) -> None:
    started = time.perf_counter()
    connection.ensure_connection()
    report.connect_ms = round((time.perf_counter() - started) * 1000, 2)
    report.reachable = True
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        report.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        cursor.execute("SHOW server_version")
        report.server_version = str(cursor.fetchone()[0])
        cursor.execute("SELECT extname, extversion FROM pg_extension ORDER BY extname")
        report.extensions = {str(name): str(version) for name, version in cursor.fetchall()}
        executor = MigrationExecutor(connection)
        report.required_extensions = required_extensions(executor.loader, report.alias)
        cursor.execute(
            "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", [list(report.required_extensions)]
        )
        available = {str(name) for (name,) in cursor.fetchall()}
    pending = pending_migrations(connection, executor)
    report.unapplied_migrations = [migration_name(migration) for migration in pending]
    if pending:
        report.problems.append(f"{len(pending)} unapplied migration(s); run python manage.py migrate_all")
    created_by_pending = {
        operation.name
        for migration in pending
        for operation in migration.operations
        if isinstance(operation, CreateExtension)
    }
    report.problems.extend(extension_problems(report, available, created_by_pending))


def inspect_alias(alias: str) -> DatabaseReport:
    settings_dict = connections[alias].settings_dict
    report = DatabaseReport(
        alias=alias,
        database=f"{settings_dict['NAME']} at {location(settings_dict)}",
        apps=apps_description(alias),
        routed_apps=routed_apps(alias),
    )
    with probe_connection(alias) as connection:
        try:
            inspect_connection(report, connection)
        except Exception as error:
            report.problems.append(describe_error(error, settings_dict))
    return report


def failure_message(failed: list[DatabaseReport]) -> str:
    if len(failed) == 1:
        return f"Database {failed[0].alias!r} is not ready: {'; '.join(failed[0].problems)}"
    details = "; ".join(f"{report.alias!r} ({', '.join(report.problems)})" for report in failed)
    return f"{len(failed)} databases are not ready: {details}"


def extensions_cell(report: DatabaseReport) -> Text:
    cell = Text()
    for name, version in report.extensions.items():
        needed_by = report.required_extensions.get(name)
        cell.append(f"{name} {version}" + (f" (for {', '.join(needed_by)})" if needed_by else "") + "\n")
    for name, apps in report.required_extensions.items():
        if name not in report.extensions:
            cell.append(f"{name} missing (for {', '.join(apps)})\n", style="red")
    cell.rstrip()
    return cell


def unapplied_cell(report: DatabaseReport) -> str:
    if not report.reachable:
        return "—"
    names = report.unapplied_migrations
    shown = "\n".join(names[:3]) + ("\n…" if len(names) > 3 else "")
    return f"{len(names)}\n{shown}" if names else "0"


class Command(BaseCommand):
    help = (
        "For each database alias: reachable, server version, extensions (pgvector where its apps need it), "
        "unapplied migrations of the apps routed to it, and latency. Exits 1 naming any alias that is not ready."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the table")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = [inspect_alias(alias) for alias in database_aliases()]
        if options["json"]:
            ready = all(report.ready for report in reports)
            payload = {"ready": ready, "databases": [report.as_json() for report in reports]}
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            self.print_table(reports)
        failed = [report for report in reports if not report.ready]
        if failed:
            raise CommandError(failure_message(failed))

    def print_table(self, reports: list[DatabaseReport]) -> None:
        table = Table(
            "alias", "database", "apps", "status", "server", "latency", "extensions", "unapplied", title="Databases"
        )
        for report in reports:
            status = (
                Text("ready", style="green")
                if report.ready
                else Text(f"not ready: {'; '.join(report.problems)}", style="red")
            )
            table.add_row(
                report.alias,
                Text(report.database),
                report.apps,
                status,
                f"PostgreSQL {report.server_version}" if report.server_version else "—",
                f"{report.latency_ms:.1f} ms" if report.latency_ms is not None else "—",
                extensions_cell(report),
                unapplied_cell(report),
            )
        console_for(self.stdout).print(table)
