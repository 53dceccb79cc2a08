"""migrator: the migration plan of each database alias, migrating one or all, and rolling an app back.

In a terminal with no flags it is a menu; the same actions are flags for scripts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.migrations import Migration
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from rich.prompt import Confirm, Prompt
from rich.table import Table
from rich.text import Text

from cfg.management.databases import (
    MigrateFailed,
    Steps,
    UnknownAlias,
    app_alias,
    apps_description,
    console_for,
    database_aliases,
    describe_error,
    lives_in,
    migrate_aliases,
    migration_name,
    pending_migrations,
    probe_connection,
    progress_display,
    require_alias,
    run_migrate,
    summary_table,
)

FLAGS_HINT = (
    "use --plan [--database ALIAS], --migrate --database ALIAS, --migrate --all, "
    "or --rollback APP MIGRATION [--database ALIAS] --yes"
)


@dataclass
class AliasPlan:
    alias: str
    pending: list[str]
    error: str | None = None


@dataclass
class Rollback:
    alias: str
    app_label: str
    target: str  # a migration name, or "zero"
    steps: list[str]  # the migrations to unapply, in order (dependent apps' included)


def alias_plan(alias: str) -> AliasPlan:
    with probe_connection(alias) as connection:
        try:
            return AliasPlan(alias, [migration_name(migration) for migration in pending_migrations(connection)])
        except Exception as error:
            return AliasPlan(alias, [], error=describe_error(error, connection.settings_dict))


def plan_table(plans: list[AliasPlan]) -> Table:
    table = Table("alias", "apps", "unapplied migrations", title="Migration plan")
    for plan in plans:
        if plan.error:
            cell = Text(f"unreachable: {plan.error}", style="red")
        elif plan.pending:
            cell = Text("\n".join(plan.pending))
        else:
            cell = Text("up to date", style="green")
        table.add_row(plan.alias, apps_description(plan.alias), cell)
    return table


def raise_unreachable(plans: list[AliasPlan]) -> None:
    unreachable = [plan for plan in plans if plan.error]
    if unreachable:
        first = unreachable[0]
        raise CommandError(f"Database {first.alias!r} is not reachable: {first.error}")


def applied_by_app(alias: str) -> dict[str, list[str]]:
    """The apps that live in `alias` with a migration applied there: their applied migrations, oldest first."""
    with probe_connection(alias) as connection:
        loader = MigrationExecutor(connection).loader
        found: dict[str, list[str]] = {}
        for app_label in sorted(loader.migrated_apps):
            if not lives_in(alias, app_label):
                continue
            order = [node for leaf in loader.graph.leaf_nodes(app_label) for node in loader.graph.forwards_plan(leaf)]
            names = [
                name
                for app, name in dict.fromkeys(order)
                if app == app_label and (app, name) in loader.applied_migrations
            ]
            if names:
                found[app_label] = names
        return found


def plan_rollback(alias: str, app_label: str, target: str) -> Rollback:
    """What rolling `app_label` back to `target` (a migration name or prefix, or "zero") in `alias` would unapply.
    Raises CommandError for an unknown app or migration, an app that lives elsewhere, or a target not applied."""
    with probe_connection(alias) as connection:
        try:
            executor = MigrationExecutor(connection)
        except Exception as error:
            raise CommandError(
                f"Database {alias!r} is not reachable: {describe_error(error, connection.settings_dict)}"
            ) from error
        loader = executor.loader
        if app_label not in loader.migrated_apps:
            known = ", ".join(sorted(loader.migrated_apps))
            raise CommandError(f"app {app_label!r} has no migrations; apps with migrations: {known}")
        if not lives_in(alias, app_label):
            home = app_alias(app_label)
            raise CommandError(
                f"app {app_label!r} does not live in database {alias!r} (the router sends it to {home!r}); "
                f"use --database {home}"
            )
        if target == "zero":
            node: tuple[str, str | None] = (app_label, None)
        else:
            try:
                migration: Migration = loader.get_migration_by_prefix(app_label, target)
            except AmbiguityError:
                raise CommandError(
                    f"{target!r} matches more than one migration of {app_label!r}; write more of it"
                ) from None
            except KeyError:
                raise CommandError(f"app {app_label!r} has no migration {target!r}") from None
            node = (app_label, migration.name)
            if node not in loader.applied_migrations:
                raise CommandError(
                    f"{app_label}.{migration.name} is not applied in {alias!r}: nothing to roll back to; "
                    "migrate forward with --migrate"
                )
        plan = executor.migration_plan([node])
    return Rollback(
        alias=alias,
        app_label=app_label,
        target=node[1] or "zero",
        steps=[migration_name(step) for step, backwards in plan if backwards],
    )


def is_terminal() -> bool:
    return sys.stdin.isatty()


class Command(BaseCommand):
    help = (
        "Migration plans per database alias, migrating one alias or all, and rolling an app back to a migration "
        "(after confirmation). An interactive menu in a terminal with no flags; " + FLAGS_HINT + " in scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_mutually_exclusive_group()
        actions.add_argument("--plan", action="store_true", help="Show the unapplied migrations of each alias")
        actions.add_argument("--migrate", action="store_true", help="Migrate --database ALIAS, or --all aliases")
        actions.add_argument(
            "--rollback",
            nargs=2,
            metavar=("APP", "MIGRATION"),
            help="Unapply APP's migrations after MIGRATION (a name, a prefix of one, or zero)",
        )
        parser.add_argument("--database", help="The alias to act on (for --rollback: the app's own by default)")
        parser.add_argument("--all", action="store_true", help="With --migrate: every alias, default first")
        parser.add_argument("--yes", action="store_true", help="Roll back without asking for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        self.console = console_for(self.stdout)
        database = options["database"]
        if database is not None:
            try:
                require_alias(database)
            except UnknownAlias as error:
                raise CommandError(str(error)) from error
        if options["all"] and not options["migrate"]:
            raise CommandError("--all goes with --migrate")
        if options["plan"]:
            self.show_plan([database] if database else database_aliases(), fail=True)
        elif options["migrate"]:
            if options["all"] == bool(database):
                raise CommandError("--migrate needs either --database ALIAS or --all")
            self.migrate([database] if database else database_aliases())
        elif options["rollback"]:
            app_label, target = options["rollback"]
            self.rollback(plan_rollback(database or app_alias(app_label), app_label, target), yes=options["yes"])
        elif is_terminal() and self.stdout.isatty():
            self.menu()
        else:
            plans = self.show_plan(database_aliases(), fail=False)
            self.console.print(f"Not a terminal, so no menu: {FLAGS_HINT}.", highlight=False)
            raise_unreachable(plans)

    def show_plan(self, aliases: list[str], *, fail: bool) -> list[AliasPlan]:
        plans = [alias_plan(alias) for alias in aliases]
        self.console.print(plan_table(plans))
        if fail:
            raise_unreachable(plans)
        return plans

    def migrate(self, aliases: list[str]) -> None:
        try:
            results = migrate_aliases(aliases, self.console)
        except MigrateFailed as failure:
            self.console.print(summary_table(failure.results))
            raise CommandError(failure.message) from failure
        self.console.print(summary_table(results))

    def rollback(self, rollback: Rollback, *, yes: bool) -> None:
        where = f"{rollback.app_label} to {rollback.target} in database {rollback.alias!r}"
        if not rollback.steps:
            self.console.print(f"Nothing to roll back: {where} is where it is already.", highlight=False)
            return
        self.console.print(f"Rolling back {where} unapplies, in this order:", highlight=False)
        for step in rollback.steps:
            self.console.print(Text(f"  {step}"))
        if not yes:
            if not is_terminal():
                raise CommandError("rolling back needs a confirmation: run it in a terminal, or add --yes")
            question = f"Unapply these {len(rollback.steps)} migration(s)? Their tables and data may be lost"
            if not Confirm.ask(question, console=self.console, default=False):
                raise CommandError("aborted; nothing was rolled back")
        with progress_display(self.console) as progress:
            task = progress.add_task(f"{rollback.alias}: rolling back", total=len(rollback.steps))

            def unapplied(migration: Migration) -> None:
                progress.update(task, advance=1, description=f"{rollback.alias}: {migration_name(migration)}")

            steps = Steps(unapplied)
            try:
                run_migrate(rollback.alias, steps, rollback.app_label, rollback.target)
            except Exception as error:
                reason = describe_error(error, connections[rollback.alias].settings_dict) + steps.failed_at()
                raise CommandError(
                    f"Rolling back {where} failed after {len(steps.done)} migration(s): {reason}"
                ) from error
        self.console.print(
            Text(f"Rolled back {where}: {len(steps.done)} migration(s) unapplied.", style="green"), highlight=False
        )

    # The menu: the same actions, asked for one by one.

    def menu(self) -> None:
        console = self.console
        actions = {
            "1": ("show the plan (unapplied migrations)", self.menu_plan),
            "2": ("migrate one database", self.menu_migrate_one),
            "3": ("migrate all databases", self.menu_migrate_all),
            "4": ("roll an app back to a migration", self.menu_rollback),
        }
        while True:
            console.print()
            console.print(
                "[bold]Databases:[/] " + ", ".join(f"{a} ({apps_description(a)})" for a in database_aliases())
            )
            for key, (label, _) in actions.items():
                console.print(f"  [bold]{key}[/]  {label}")
            console.print("  [bold]q[/]  quit")
            try:
                choice = Prompt.ask("Choice", console=console, choices=[*actions, "q"], default="1")
                if choice == "q":
                    return
                actions[choice][1]()
            except CommandError as error:
                console.print(Text(str(error), style="red"))
            except (EOFError, KeyboardInterrupt):
                console.print()
                return

    def menu_plan(self) -> None:
        self.show_plan(database_aliases(), fail=False)

    def menu_migrate_one(self) -> None:
        aliases = database_aliases()
        alias = Prompt.ask("Database", console=self.console, choices=aliases, default=aliases[0])
        self.migrate([alias])

    def menu_migrate_all(self) -> None:
        self.migrate(database_aliases())

    def menu_rollback(self) -> None:
        console = self.console
        aliases = database_aliases()
        alias = Prompt.ask("Database", console=console, choices=aliases, default=aliases[0])
        plan = alias_plan(alias)
        if plan.error:
            raise CommandError(f"Database {alias!r} is not reachable: {plan.error}")
        applied = applied_by_app(alias)
        if not applied:
            raise CommandError(f"no migration is applied in {alias!r}: nothing to roll back")
        app_label = Prompt.ask("App", console=console, choices=list(applied))
        names = applied[app_label]
        console.print(Text(f"Applied in {alias!r}: " + ", ".join(names)))
        target = Prompt.ask(
            "Roll back to (it stays applied; zero for none)",
            console=console,
            choices=[*names, "zero"],
            show_choices=False,
            default=names[-2] if len(names) > 1 else "zero",
        )
        self.rollback(plan_rollback(alias, app_label, target), yes=False)
